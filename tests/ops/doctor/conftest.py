"""The doctor's fault corpus: a database per dialect, `ops doctor` through its click command,
and a snapshot of the files and the database around every run (the doctor must change nothing).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import NullPool

from ops.cli import main
from scraper.db import make_engine
from scraper.heartbeats import beat
from scraper.schema import init_db
from tests.conftest import DIALECTS, fresh_database

SERVERS = [d for d in DIALECTS if not isinstance(d, str)]


def file_state(root: Path) -> dict[str, str]:
    """Every file and folder under `root` with a hash of its content (folders: their mtime).

    `-shm` files are SQLite's shared memory (readers mark it): their existence counts, their
    bytes do not.
    """
    state: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        name = str(path.relative_to(root))
        if path.is_dir():  # a file made and removed inside it changes its mtime...
            sqlite_home = any(path.glob("*.db"))  # ...as SQLite's -wal/-shm do, by design
            state[name] = "dir" if sqlite_home else f"dir {path.stat().st_mtime_ns}"
        elif path.name.endswith("-shm"):
            state[name] = "shm"
        else:
            state[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def database_state(url: str) -> dict[str, Any]:
    """Tables, columns, rows, sequences / AUTO_INCREMENT counters: what a user could notice."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        if not path.exists():
            return {"exists": False}
        conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True)
        try:
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master ORDER BY name")]
            schema = list(conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name"))
            rows = {
                t: sorted(map(repr, conn.execute(f'SELECT * FROM "{t}"')))
                for t in tables
                if (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            return {"schema": schema, "rows": rows}
        finally:
            conn.close()
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            inspector = inspect(conn)
            state: dict[str, Any] = {"tables": {}}
            for table in inspector.get_table_names():
                columns = [(c["name"], str(c["type"])) for c in inspector.get_columns(table)]
                rows = sorted(map(repr, conn.execute(text(f"SELECT * FROM {_q(conn, table)}"))))
                state["tables"][table] = {"columns": columns, "rows": rows}
            state["counters"] = sorted(map(repr, conn.execute(text(_counters(conn)))))
            return state
    finally:
        engine.dispose()


def _q(conn: Any, name: str) -> str:
    return f"`{name}`" if conn.dialect.name == "mysql" else f'"{name}"'


def _counters(conn: Any) -> str:
    if conn.dialect.name == "postgresql":
        return "SELECT sequencename, last_value FROM pg_sequences"
    return (
        "SELECT TABLE_NAME, AUTO_INCREMENT FROM information_schema.TABLES "
        "WHERE TABLE_SCHEMA = DATABASE()"
    )


@dataclass
class FaultEnv:
    """One database of one dialect, a data dir, and `ops doctor` run against them."""

    dialect: str
    url: str
    root: Path
    data_dir: Path
    runs: list[dict[str, Any]] = field(default_factory=list)

    def admin(self) -> Engine:
        """A connection pool that closes each connection (SQLite's files tidy themselves)."""
        return make_engine(self.url, poolclass=NullPool)

    def sql(self, *statements: str, **params: Any) -> Any:
        """Run statements as the admin; the last one's scalar if it returns rows."""
        engine = self.admin()
        try:
            with engine.begin() as conn:
                result = None
                for statement in statements:
                    result = conn.execute(text(statement), params)
                return result.scalar() if result is not None and result.returns_rows else None
        finally:
            engine.dispose()

    def init(self) -> None:
        engine = self.admin()
        try:
            init_db(engine)
        finally:
            engine.dispose()

    def live_worker(self) -> None:
        self.live_worker_at(self.url)

    def live_worker_at(self, url: str) -> None:
        """A fresh heartbeat: a worker is alive (so waiting jobs are not the finding)."""
        engine = make_engine(url, poolclass=NullPool)
        try:
            beat(sessionmaker(engine), "live-worker", 0, 0)
        finally:
            engine.dispose()

    def doctor(
        self, *args: str, url: str | None = None, expect: tuple[int, ...] = (0, 1)
    ) -> tuple[int, dict[str, Any]]:
        """`ops doctor --json` (snapshotting around it unless --heal) -> (exit code, report)."""
        target = url or self.url
        watch = "--heal" not in args
        before = (file_state(self.root), database_state(self.url)) if watch else None
        result = CliRunner().invoke(main, ["doctor", "--json", "--database-url", target, *args])
        assert result.exit_code in expect, result.output
        if before is not None:
            after = (file_state(self.root), database_state(self.url))
            assert after[0] == before[0], "ops doctor changed files"
            assert after[1] == before[1], "ops doctor changed the database"
        report: dict[str, Any] = json.loads(result.stdout)
        self.runs.append(report)
        return result.exit_code, report

    def cause(self, *args: str, url: str | None = None) -> dict[str, Any]:
        """Run the doctor, expect a failing problem, return the root cause."""
        code, report = self.doctor(*args, url=url)
        assert code == 1 and report["status"] == "fail", report
        cause: dict[str, Any] = report["root_cause"]
        return cause

    def passes(self, url: str | None = None) -> dict[str, Any]:
        """Run the doctor, expect no failing problem (warnings may remain)."""
        code, report = self.doctor(url=url)
        assert code == 0 and report["status"] in ("pass", "warn"), report["root_cause"]
        return report


@pytest.fixture
def env_factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Make a FaultEnv for a dialect (databases dropped at teardown)."""
    stack = contextlib.ExitStack()
    monkeypatch.setenv("SCRAPER_SECRET_KEY", "doctor-corpus-secret")
    monkeypatch.delenv("SCRAPER_DATABASE_URL", raising=False)

    def make(dialect: str, flavour: str | None = None) -> FaultEnv:
        root = tmp_path / dialect
        root.mkdir()
        data_dir = root / "data"
        data_dir.mkdir()
        monkeypatch.setenv("SCRAPER_DATA_DIR", str(data_dir))
        url = stack.enter_context(fresh_database(dialect, root, flavour))
        if dialect == "sqlite" and flavour is None:
            sqlite3.connect(make_url(url).database or "").close()
        return FaultEnv(dialect, url, root, data_dir)

    with stack:
        yield make


@pytest.fixture(params=DIALECTS)
def env(request: pytest.FixtureRequest, env_factory: Any) -> FaultEnv:
    """An initialized database of each dialect with a live worker."""
    made: FaultEnv = env_factory(request.param, "initialized")
    made.live_worker()
    return made


@pytest.fixture(params=SERVERS)
def server_env(request: pytest.FixtureRequest, env_factory: Any) -> FaultEnv:
    """An initialized PostgreSQL or MariaDB database with a live worker."""
    made: FaultEnv = env_factory(request.param, "initialized")
    made.live_worker()
    return made


def fix_sql(cause: dict[str, Any]) -> str:
    sql = cause.get("fix_sql")
    assert sql, cause
    return str(sql)


def chdir(path: Path) -> Any:
    """Temporarily run from another working directory (as services often do)."""

    @contextlib.contextmanager
    def go() -> Iterator[None]:
        old = os.getcwd()
        os.chdir(path)
        try:
            yield
        finally:
            os.chdir(old)

    return go()
