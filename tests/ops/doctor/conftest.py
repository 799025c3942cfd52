"""The doctor's fault corpus: a database per dialect, `ops doctor` through its click command,
and a snapshot of the files and the database around every run (the doctor must change nothing).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import NullPool

from ops import smoke
from ops.cli import main
from scraper.accounts import create_token, create_user
from scraper.config import Settings
from scraper.db import make_engine, sqlite_left_as_found
from scraper.migrations.manage import init_db
from scraper.runtime import Runtime
from scraper.worker.heartbeats import beat
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


# What a user types (an emoji too): a column that cannot store it refuses the job.
FAULT_JOB = {"query": "fault \N{GRINNING FACE}", "max_content": 1, "enabled_sources": ["selftest"]}


@dataclass(frozen=True)
class Symptom:
    """What the running service showed a user: the answer to a new job and `/readyz`."""

    created: int
    job: dict[str, Any]
    ready: int
    readiness: dict[str, Any]

    @property
    def held(self) -> bool:
        """The job was answered but kept in the fallback journal: the database refused it."""
        return self.created == 201 and self.job.get("storage") == "fallback"

    def failing(self) -> dict[str, str]:
        """The /readyz checks that do not pass -> their output (if it names one)."""
        checks = self.readiness.get("checks", {})
        return {
            name: found[0].get("output", "")
            for name, found in checks.items()
            if found and found[0]["status"] != "pass"
        }


@dataclass
class FaultEnv:
    """One database of one dialect, a data dir, and `ops doctor` run against them."""

    dialect: str
    url: str
    root: Path
    data_dir: Path
    runs: list[dict[str, Any]] = field(default_factory=list)
    _token: str | None = None

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

    @contextlib.contextmanager
    def service(self, url: str | None = None, **settings: str) -> Iterator[Callable[[], Symptom]]:
        """`scraper serve` as a real process against `url` (default: the env's own; self-healing
        off, so the fault stays as made, unless `settings` turn it on) -> a call that submits a
        job and reads `/readyz`.

        The fault is reproduced against the running service before the doctor looks: the
        service is stopped when the block ends, so the doctor's snapshot sees only itself."""
        token = self.token()
        settings = {"SCRAPER_AUTO_HEAL": "off", **settings}
        env = smoke.server_env(url or self.url, self.data_dir, **settings)
        with (
            sqlite_left_as_found(url or self.url),  # sidecars a read-only served process left
            smoke.running_server(env, smoke.free_port(), self.root / "server.log") as base,
            requests.Session() as api,
        ):
            api.headers["Authorization"] = f"Bearer {token}"

            def symptom() -> Symptom:
                job = api.post(f"{base}/api/comprehensive-search", json=FAULT_JOB, timeout=30)
                ready = api.get(f"{base}/readyz", timeout=30)
                return Symptom(job.status_code, job.json(), ready.status_code, ready.json())

            yield symptom

    def token(self) -> str:
        """An admin's API token, made once with the admin's URL: call it before a fault that
        refuses the making itself (a database turned read-only)."""
        if self._token is None:
            runtime = Runtime(Settings(database_url=self.url, data_dir=self.data_dir))
            try:
                create_user(runtime.Session, "fault-admin", "fault-password", admin=True)
                self._token = create_token(runtime.Session, "fault-admin", "fault test")
            finally:
                runtime.close()
        return self._token

    def take_back(self) -> None:
        """`ops reconcile`: the jobs the running service held in its fallback journal go to the
        database, once the fault is fixed (the doctor's fix for `fallback:jobs`)."""
        result = CliRunner().invoke(main, ["reconcile", "--database-url", self.url])
        assert result.exit_code == 0, result.output

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
            assert after[1] == before[1], (
                "ops doctor changed the database",
                _changed(before[1], after[1]),
            )
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


def _changed(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """What differs between two database_state snapshots, entry by entry (for the message)."""
    flat = {}
    for label, state in (("before", before), ("after", after)):
        for counter in state.get("counters", []):
            flat.setdefault(counter, set()).add(label)
        for table, found in state.get("tables", {}).items():
            for row in found["rows"]:
                flat.setdefault(f"{table}: {row}", set()).add(label)
    return sorted(f"only {next(iter(w))}: {k}" for k, w in flat.items() if len(w) == 1)
