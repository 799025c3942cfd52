"""A job row held by a transaction left open elsewhere (issue 28 item 5): the write probe never
meets that lock (it writes rows of its own), so `database:locks` names the holder — first as a
transaction older than the service's lock timeout, then as the session a job write waits on —
with the statement that ends it; run as an admin, the waiting write completes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import NullPool

from ops.cli import main
from scraper.jobs import JobRecord
from scraper.jobs.store import JobStore
from scraper.models import utcnow
from tests.ops.doctor.conftest import FaultEnv, fix_sql

# argv: url, job id, "hold" | "write". Prints the session's id, then (hold) keeps the row
# locked until stdin closes, or (write) prints "written" once its UPDATE got through.
SESSION = """
import sys
from sqlalchemy import create_engine, text
url, job, mode = sys.argv[1:]
args = {"application_name": "held-by-test"} if url.startswith("postgresql") else {}
conn = create_engine(url, connect_args=args).connect()
me = "SELECT pg_backend_pid()" if url.startswith("postgresql") else "SELECT CONNECTION_ID()"
print(conn.execute(text(me)).scalar(), flush=True)
if mode == "hold":
    conn.execute(text("SELECT id FROM scrape_jobs WHERE id = :id FOR UPDATE"), {"id": job})
    print("locked", flush=True)
    sys.stdin.read()
else:
    conn.execute(text("UPDATE scrape_jobs SET attempts = attempts + 1 WHERE id = :id"), {"id": job})
    conn.commit()
    print("written", flush=True)
"""


def _session(env: FaultEnv, job: str, mode: str) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-c", SESSION, env.url, job, mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


def _insert_job(env: FaultEnv) -> str:
    now, job = utcnow(), str(uuid.uuid4())
    engine = env.admin()
    try:
        JobStore(sessionmaker(engine)).insert(
            JobRecord(
                id=job,
                query="held",
                max_content=1,
                safe_search=True,
                enabled_sources=["selftest"],
                created_at=now,
                updated_at=now,
            )
        )
    finally:
        engine.dispose()
    return job


def _waiting(env: FaultEnv, pid: int) -> None:
    """Until the database shows `pid` waiting for a lock."""
    probe = (
        "SELECT count(*) FROM pg_stat_activity WHERE pid = :pid AND wait_event_type = 'Lock'"
        if env.dialect == "postgresql"
        else "SELECT count(*) FROM information_schema.INNODB_TRX "
        "WHERE trx_mysql_thread_id = :pid AND trx_state = 'LOCK WAIT'"
    )
    deadline = time.monotonic() + 10
    while not env.sql(probe, pid=pid):
        assert time.monotonic() < deadline, f"session {pid} never waited for the lock"
        time.sleep(0.05)


@pytest.mark.slow
def test_an_open_transaction_on_a_job_row_is_named_with_the_statement_that_ends_it(
    server_env: FaultEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = server_env
    monkeypatch.setenv("SCRAPER_DB_LOCK_TIMEOUT", "1")
    job = _insert_job(env)
    env.passes()
    holder, holder_pid = _session(env, job, "hold")
    writer = None
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        time.sleep(2.2)  # past the lock timeout (MariaDB counts whole seconds): writes give up
        code, report = env.doctor()
        assert code == 0, report["root_cause"]  # nobody waits yet: a warning
        cause = report["root_cause"]
        assert cause["check"] == "database:locks" and cause["severity"] == "warn", cause
        assert [s["pid"] for s in cause["evidence"]["blocking"]] == [holder_pid]
        assert "longer than the service's lock timeout (1 s)" in cause["summary"]

        writer, writer_pid = _session(env, job, "write")  # the rescue or cancel of that job
        _waiting(env, writer_pid)
        cause = env.cause()
        assert cause["check"] == "database:locks", cause
        evidence = cause["evidence"]
        assert [w["pid"] for w in evidence["waiting"]] == [writer_pid]
        assert evidence["waiting"][0]["blocked_by"] == [holder_pid]
        blocking = evidence["blocking"][0]
        assert blocking["pid"] == holder_pid and blocking["xact_start"]
        assert f"pid {holder_pid}" in cause["summary"]
        if env.dialect == "postgresql":  # MariaDB keeps no idle session's last statement
            assert "FOR UPDATE" in cause["summary"]
            assert blocking["application"] == "held-by-test"
            assert blocking["state"] == "idle in transaction"
            assert "RowShareLock on scrape_jobs" in blocking["holds"]
            assert fix_sql(cause) == f"SELECT pg_terminate_backend({holder_pid})"
        else:
            assert blocking["state"] == "Sleep"
            assert "X RECORD lock on `" in blocking["holds"] and "scrape_jobs" in blocking["holds"]
            assert fix_sql(cause) == f"KILL {holder_pid}"
        env.sql(fix_sql(cause))
        assert writer.stdout is not None and writer.stdout.readline().strip() == "written"
        assert writer.wait(timeout=10) == 0
    finally:
        for proc in (holder, writer):
            if proc is not None and proc.poll() is None:
                proc.kill()
            if proc is not None:
                proc.wait(timeout=10)
    report = env.passes()
    assert {c["name"]: c for c in report["checks"]}["database:locks"]["status"] == "pass"


@pytest.mark.slow
@pytest.mark.postgres
def test_an_alter_table_queued_behind_an_open_transaction_names_the_transaction(
    env_factory: Any,
) -> None:
    """The ALTER waits for its exclusive lock and every job write queues behind it: the doctor
    (its reads bounded by a lock timeout, so it does not queue forever itself) names the
    idle transaction at the head of the chain, not the ALTER."""
    env: FaultEnv = env_factory("postgresql", "initialized")
    env.live_worker()
    engine = create_engine(env.url, poolclass=NullPool)
    idle = engine.connect()
    idle.execute(text("SELECT count(*) FROM scrape_jobs"))  # AccessShareLock, left open
    idle_pid = idle.execute(text("SELECT pg_backend_pid()")).scalar()
    alter = subprocess.Popen(
        [sys.executable, "-c", ALTER, env.url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert alter.stdout is not None
        alter_pid = int(alter.stdout.readline())
        _waiting(env, alter_pid)
        # (no snapshot around this run: reading the tables would queue behind the ALTER too)
        found = CliRunner().invoke(main, ["doctor", "--json", "--database-url", env.url])
        assert found.exit_code == 1, found.output
        cause = json.loads(found.stdout)["root_cause"]
        assert cause["check"] == "database:locks", cause
        assert [b["pid"] for b in cause["evidence"]["blocking"]] == [idle_pid]
        assert "ALTER TABLE scrape_jobs" in cause["summary"]
        assert "AccessShareLock on scrape_jobs" in cause["evidence"]["blocking"][0]["holds"]
        assert fix_sql(cause) == f"SELECT pg_terminate_backend({idle_pid})"
        idle.rollback()  # the application ends its transaction: the ALTER goes through
        assert alter.wait(timeout=30) == 0
    finally:
        idle.close()
        engine.dispose()
        if alter.poll() is None:
            alter.kill()
            alter.wait(timeout=10)


ALTER = """
import sys
from sqlalchemy import create_engine, text
with create_engine(sys.argv[1]).connect() as conn:
    print(conn.execute(text("SELECT pg_backend_pid()")).scalar(), flush=True)
    conn.execute(text("ALTER TABLE scrape_jobs ADD COLUMN added_by_hand integer"))
    conn.commit()
"""
