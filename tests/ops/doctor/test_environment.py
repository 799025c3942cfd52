"""Environment facts: driver, database, relative path, clock skew, repeated failures, migrations.

Each fault is diagnosed by `ops doctor` (changing nothing), its printed fix applied, and the
next run passes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from click.testing import CliRunner
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker

from ops.cli import main
from scraper.jobs import JobRecord
from scraper.jobs.store import JobStore
from scraper.migrations import alembic_config
from scraper.migrations.manage import MIGRATIONS
from scraper.models import utcnow
from scraper.worker.heartbeats import beat
from tests.conftest import DIALECTS, SERVER_URLS
from tests.ops.doctor.conftest import FaultEnv, chdir, database_state, file_state
from tests.plugins.tmpfs import mounted_tmpfs

VENV_BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    ("dialect", "broken_driver"),
    [
        pytest.param("postgresql", "postgresql+psycopg2", marks=pytest.mark.postgres),
        pytest.param("mariadb", "mysql+mysqldb", marks=pytest.mark.mariadb),
    ],
)
@pytest.mark.slow
def test_missing_driver_prints_the_url_form_that_works(
    env_factory: Any, dialect: str, broken_driver: str
) -> None:
    env: FaultEnv = env_factory(dialect)
    env.init()
    env.live_worker()
    broken = make_url(env.url).set(drivername=broken_driver).render_as_string(False)
    cause = env.cause(url=broken)
    assert cause["check"] == "config:database_url"
    assert "not installed" in cause["summary"]
    assert "ModuleNotFoundError" in cause["evidence"]["error"]
    fixed = cause["fix"].split("=", 1)[1].strip("'")
    assert fixed == env.url
    env.passes(url=fixed)


@pytest.mark.parametrize(
    "dialect",
    [
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ],
)
@pytest.mark.slow
def test_nonexistent_database_prints_the_command_that_creates_it(
    env_factory: Any, dialect: str
) -> None:
    env: FaultEnv = env_factory(dialect)
    name = f"t_missing_{uuid.uuid4().hex[:8]}"
    url = make_url(env.url).set(database=name).render_as_string(hide_password=False)
    cause = env.cause(url=url)
    assert cause["check"] == "database:connection"
    assert cause["error"]["kind"] == "missing_database"
    assert name in cause["summary"]
    assert _exists(dialect, name) is False  # diagnosing created nothing
    try:
        shell_env = {**os.environ, "SCRAPER_DATABASE_URL": url}
        shell_env["PATH"] = f"{VENV_BIN}:{shell_env['PATH']}"
        done = subprocess.run(cause["fix"], shell=True, env=shell_env, capture_output=True)
        assert done.returncode == 0, done.stderr
        env.live_worker_at(url)
        env.passes(url=url)
    finally:
        _drop(dialect, name)


def _admin(dialect: str) -> Any:
    return create_engine(SERVER_URLS[dialect], isolation_level="AUTOCOMMIT")


def _exists(dialect: str, name: str) -> bool:
    engine = _admin(dialect)
    sql = (
        "SELECT 1 FROM pg_database WHERE datname = :n"
        if dialect == "postgresql"
        else "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = :n"
    )
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql), {"n": name}).scalar() is not None
    finally:
        engine.dispose()


def _drop(dialect: str, name: str) -> None:
    engine = _admin(dialect)
    force = " WITH (FORCE)" if dialect == "postgresql" else ""
    try:
        with engine.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}{force}"))
    finally:
        engine.dispose()


def test_relative_sqlite_path_from_another_folder_is_resolved_not_created(
    env_factory: Any,
) -> None:
    env: FaultEnv = env_factory("sqlite")
    env.init()
    env.live_worker()
    project = env.root
    elsewhere = env.root / "elsewhere"
    elsewhere.mkdir()
    relative = "sqlite:///test.db"
    with chdir(elsewhere):
        cause = env.cause(url=relative)
    assert cause["check"] == "config:database_url"
    evidence = cause["evidence"]
    assert evidence["relative"] is True
    assert evidence["cwd"] == str(elsewhere)
    assert evidence["path"] == str(elsewhere / "test.db")
    assert not (elsewhere / "test.db").exists()
    assert evidence["found_elsewhere"] == [str(project / "test.db")]
    fixed = cause["fix"].split("=", 1)[1]
    assert fixed == f"sqlite:///{project / 'test.db'}"
    with chdir(elsewhere):
        env.passes(url=fixed)


def test_missing_sqlite_file_is_a_diagnosis_even_with_heal(env_factory: Any) -> None:
    env: FaultEnv = env_factory("sqlite")
    # Not the default name: after `make run` the checkout's data/scraper.db exists, and the
    # doctor rightly points a missing scraper.db at it instead of a new install's init-db.
    missing = env.root / "nowhere" / "missing-test.db"
    cause = env.cause(url=f"sqlite:///{missing}")
    assert cause["check"] == "config:database_url"
    assert cause["evidence"]["path"] == str(missing) and cause["evidence"]["relative"] is False
    assert cause["heal"] is None
    before = file_state(env.root)
    result = CliRunner().invoke(
        main, ["doctor", "--heal", "--database-url", f"sqlite:///{missing}"]
    )
    assert result.exit_code == 1
    assert file_state(env.root) == before and not missing.parent.exists()
    init = cause["fix"].split("  (", 1)[
        0
    ]  # a new install: the printed `ops init-db --database-url`
    args = init.split()[1:]
    assert CliRunner().invoke(main, args).exit_code == 0
    env.live_worker_at(f"sqlite:///{missing}")
    env.passes(url=f"sqlite:///{missing}")


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.slow
def test_heartbeat_from_the_future_is_clock_skew_not_a_live_worker(
    env_factory: Any, dialect: str
) -> None:
    env: FaultEnv = env_factory(dialect)
    env.init()
    engine = env.admin()
    try:
        session = sessionmaker(engine)
        beat(session, "skewed:1", 0, 0)
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE worker_heartbeats SET last_seen_at = :t, hostname = 'skewed-host'"),
                {"t": (utcnow() + timedelta(hours=3)).replace(tzinfo=None)},
            )
        JobStore(session).insert(_job("waiting"))
    finally:
        engine.dispose()
    cause = env.cause()
    assert cause["check"] == "clock:skew"
    future = cause["evidence"]["heartbeats_from_the_future"]
    assert future[0]["host"] == "skewed-host" and future[0]["ahead_seconds"] > 3 * 3600 - 60
    assert "skewed-host" in cause["fix"]
    engine = env.admin()
    try:  # the clock on skewed-host synced: its next beat carries the right time
        beat(sessionmaker(engine), "skewed:1", 0, 0)
    finally:
        engine.dispose()
    env.passes()


def _job(query: str, **values: Any) -> JobRecord:
    now = utcnow()
    fields: dict[str, Any] = dict(
        id=str(uuid.uuid4()),
        query=query,
        max_content=1,
        safe_search=True,
        enabled_sources=["selftest"],
        created_at=now,
        updated_at=now,
    )
    fields.update(values)
    return JobRecord(**fields)


def iso_second(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.slow
def test_last_jobs_failing_with_one_error_are_a_pattern(env_factory: Any, dialect: str) -> None:
    env: FaultEnv = env_factory(dialect)
    env.init()
    env.live_worker()
    error = "ConnectionError: openverse: connection refused (127.0.0.1:1)"
    engine = env.admin()
    try:
        store = JobStore(sessionmaker(engine))
        now = utcnow().replace(microsecond=0)  # whole seconds: every dialect stores them
        finished = [now - timedelta(minutes=10 - n) for n in range(4)]
        for done in finished:
            store.insert(
                _job(
                    "red fox",
                    status="failed",
                    error=error,
                    result={"sources": {"openverse": {"error": "connection refused"}}},
                    finished_at=done,
                )
            )
    finally:
        engine.dispose()
    code, report = env.doctor()
    # Issue 29: none completed since, so the service cannot run jobs: a failure, exit 1.
    assert code == 1 and report["status"] == "fail"
    cause = report["root_cause"]
    assert cause["check"] == "jobs:recent_failures"
    evidence = cause["evidence"]
    assert evidence["error"] == error and evidence["sources"] == ["openverse"]
    assert evidence["count"] == 4
    assert (evidence["first_at"], evidence["last_at"]) == (
        iso_second(finished[0]),
        iso_second(finished[-1]),
    )
    assert f"first at {evidence['first_at']}" in cause["summary"]
    assert "--source openverse" in cause["fix"]
    engine = env.admin()
    try:  # fixed: the next job runs through
        JobStore(sessionmaker(engine)).insert(
            _job("red fox", status="completed", finished_at=utcnow())
        )
    finally:
        engine.dispose()
    report = env.passes()
    assert report["root_cause"] is None


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.slow
def test_pending_migrations_are_named_by_revision(env_factory: Any, dialect: str) -> None:
    env: FaultEnv = env_factory(dialect)
    engine = env.admin()
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(connection=conn), "0002")
    finally:
        engine.dispose()
    env.live_worker()
    cause = env.cause()
    assert cause["check"] == "schema:in_sync"
    after_0002 = ScriptDirectory.from_config(alembic_config()).iterate_revisions("head", "0002")
    pending = [p["revision"] for p in cause["evidence"]["pending_migrations"]]
    assert pending == [script.revision for script in reversed(list(after_0002))]
    assert pending[0] == "0003"
    assert cause["fix"] == "ops migrate"
    assert CliRunner().invoke(main, ["migrate", "--database-url", env.url]).exit_code == 0
    report = env.passes()
    assert report["root_cause"] is None


def test_doctor_reads_the_journal_without_making_a_lock_file(env_factory: Any) -> None:
    env: FaultEnv = env_factory("sqlite")
    env.init()
    env.live_worker()
    env.passes()
    assert sorted(p.name for p in env.data_dir.iterdir()) == []
    assert database_state(env.url)


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.slow
def test_a_revision_newer_than_the_code_names_the_release_and_advises_no_drop(
    env_factory: Any, dialect: str
) -> None:
    """A rolling deploy: a newer release added a column and recorded its revision first."""
    env: FaultEnv = env_factory(dialect, "initialized")
    env.live_worker()
    env.sql(
        "ALTER TABLE scrape_jobs ADD COLUMN newer_release_note VARCHAR(40)",
        "UPDATE alembic_version SET version_num = '0042'",
    )
    with env.service() as symptom:  # this release runs beside the newer one
        seen = symptom()
    assert seen.created == 201 and seen.job["storage"] == "database", seen
    assert "0042" in seen.failing().get("schema:migrations", ""), seen
    code, report = env.doctor()
    assert code == 0, report["root_cause"]  # this release's writes still work (the probe)
    found = {c["name"]: c for c in report["checks"]}["schema:migrations"]
    assert found["status"] == "warn"
    assert "0042" in found["output"] and "newer release" in found["output"]
    assert found["evidence"]["code_head"] == MIGRATIONS.head()
    assert report["root_cause"]["check"] == "schema:migrations", report["root_cause"]
    fixes = [report["root_cause"]["fix"]] + [c["fix"] or "" for c in report["checks"]]
    assert not [f for f in fixes if "--allow-destructive" in f]  # that column is its data


def test_revision_files_read_without_alembic_agree_with_alembic() -> None:
    """The doctor's parser of scraper/migrations (head, order, messages) against Alembic's."""
    script = ScriptDirectory.from_config(alembic_config())
    ordered = list(reversed(list(script.walk_revisions())))
    assert MIGRATIONS.head() == script.get_current_head()
    assert [(r.revision, r.doc) for r in MIGRATIONS.pending(None)] == [
        (s.revision, s.doc) for s in ordered
    ]
    assert [r.revision for r in MIGRATIONS.pending("0005")] == [s.revision for s in ordered[5:]]


def test_a_read_only_or_full_data_disk_is_named_with_its_fix(env_factory: Any) -> None:
    """Real filesystems: a tmpfs mounted read-only, then one filled to the last byte."""
    env: FaultEnv = env_factory("sqlite", "initialized")
    env.live_worker()
    with mounted_tmpfs(env.data_dir, 1024 * 1024, "ro"):
        cause = env.cause()
        assert cause["check"] == "config:data_dir", cause
        assert f"mounted read-only ({env.data_dir})" in cause["summary"]
        assert cause["fix"].startswith(f"mount -o remount,rw {env.data_dir}")
    with mounted_tmpfs(env.data_dir, 1024 * 1024):
        with pytest.raises(OSError, match="No space left"), (env.data_dir / "fill").open("wb") as f:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        cause = env.cause()
        assert cause["check"] == "storage:free_space", cause
        assert cause["summary"].startswith(f"Only 0 MiB free under {env.data_dir}")
    env.passes()
