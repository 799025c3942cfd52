"""A real PostgreSQL streaming replica, started by the test: `pg_basebackup -R` of a private
cluster into a temporary directory and a second server on a free port (issue 29 item 4).

`ops doctor` pointed at the standby names it a hot standby / read-only replica of the
primary's HOST:PORT and says to point the service at that primary.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from sqlalchemy import func, select, text

from ops.cli import main
from ops.smoke import free_port, running_server, server_env
from scraper.accounts import create_token, create_user
from scraper.config import Settings
from scraper.db import make_engine
from scraper.jobs import NewJob
from scraper.migrations.manage import init_db
from scraper.models import Asset, ScrapeJob
from scraper.runtime import Runtime
from scraper.sources.selftest import make_png
from tests.ops.doctor.test_self_heal import _poll
from tests.plugins.http_server import HTTPTestServer
from tests.plugins.pgcluster import PG_BIN, PG_USER, PrivatePostgres
from tests.plugins.processes import Spawn, claims, scraper_env, wait_until


@contextlib.contextmanager
def standby_of(primary: PrivatePostgres) -> Iterator[PrivatePostgres]:
    """A hot standby streaming from `primary` (pg_basebackup -R), stopped and removed after."""
    root = Path(tempfile.mkdtemp(prefix="scraper-pg-standby-"))
    if os.geteuid() == 0:
        shutil.chown(root, PG_USER, PG_USER)
    standby = PrivatePostgres(root)
    try:
        standby._run(
            str(PG_BIN / "pg_basebackup"),
            *("-D", str(standby.data), "-h", "127.0.0.1", "-p", str(primary.port)),
            *("-U", PG_USER, "-R", "-X", "stream", "-c", "fast"),
            timeout=120,
        )
        standby.start()
        yield standby
    finally:
        standby.destroy()


@pytest.mark.slow
@pytest.mark.postgres
def test_doctor_on_a_streaming_standby_names_the_replica_and_its_primary(
    private_postgres: PrivatePostgres,
) -> None:
    engine = make_engine(private_postgres.url)
    try:
        init_db(engine)
    finally:
        engine.dispose()
    with standby_of(private_postgres) as standby:
        result = CliRunner().invoke(
            main, ["doctor", "--json", "--database-url", standby.url], catch_exceptions=False
        )
        assert result.exit_code == 1, result.output
        report = json.loads(result.stdout)
        causes = [report["root_cause"], *report["other_findings"]]
        cause = next(c for c in causes if c["check"] == "database:writes")
        primary = f"127.0.0.1:{private_postgres.port}"
        assert f"hot standby / read-only replica of {primary}" in cause["summary"], cause
        assert primary in cause["fix"] and "SCRAPER_DATABASE_URL" in cause["fix"], cause
        assert cause["evidence"]["pg_is_in_recovery"] is True


def _promote(standby: PrivatePostgres) -> None:
    standby._run(str(PG_BIN / "pg_ctl"), "-D", str(standby.data), "-w", "-t", "60", "promote")


@pytest.mark.slow
@pytest.mark.postgres
def test_the_service_survives_a_promotion_of_its_replica(
    private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    """Multi-host URL with target_session_attrs=read-write; the primary stops and the standby
    is promoted: every job answered 201 is kept and completes, /readyz passes again."""
    primary = private_postgres
    engine = make_engine(primary.url)
    try:
        init_db(engine)
    finally:
        engine.dispose()
    data_dir = tmp_path / "data"
    runtime = Runtime(Settings(database_url=primary.url, data_dir=data_dir))
    create_user(runtime.Session, "admin", "failover-password", admin=True)
    token = create_token(runtime.Session, "admin", "failover test")
    runtime.close()
    with standby_of(primary) as standby:
        hosts = f"host=127.0.0.1:{primary.port}&host=127.0.0.1:{standby.port}"
        url = f"postgresql+psycopg://postgres@/test?{hosts}&target_session_attrs=read-write"
        env = server_env(url, data_dir, SCRAPER_RECONCILE_INTERVAL="1")
        with running_server(env, free_port(), tmp_path / "server.log") as base:
            api = requests.Session()
            api.headers["Authorization"] = f"Bearer {token}"
            body = {"query": "failover", "max_content": 1, "enabled_sources": ["selftest"]}
            answered: list[str] = []

            def submit() -> str | None:
                """Create a job; where it was stored (None unless answered 201)."""
                reply = api.post(f"{base}/api/comprehensive-search", json=body, timeout=15)
                if reply.status_code != 201:
                    return None
                answered.append(reply.json()["job_id"])
                return str(reply.json().get("storage"))

            for _ in range(3):
                assert submit() == "database"
            primary.stop()
            failed_at = time.monotonic()
            # No read-write server now: the job is held in the fallback store, answered 201.
            assert submit() == "fallback"
            _promote(standby)
            # Recovered: a job stored by the database again (the promoted standby).
            _poll(lambda: submit() == "database", 90, "a job stored by the new primary")
            recovery = time.monotonic() - failed_at
            _poll(
                lambda: requests.get(f"{base}/readyz", timeout=10).status_code == 200,
                30,
                "/readyz to pass on the promoted standby",
            )
            ready_after = time.monotonic() - failed_at
            for job in answered:
                _poll(
                    lambda job=job: (
                        api.get(f"{base}/api/jobs/{job}", timeout=10).json().get("status")
                        == "completed"
                    ),
                    90,
                    f"job {job} to complete",
                )
        assert len(answered) >= 5, answered
        promoted = make_engine(standby.url)
        try:
            with promoted.connect() as conn:
                kept = conn.scalar(
                    text("SELECT count(*) FROM scrape_jobs WHERE id = ANY(:ids)"),
                    {"ids": answered},
                )
        finally:
            promoted.dispose()
        assert kept == len(answered)  # no job answered 201 is lost
        print(
            f"failover: {len(answered)} jobs answered 201, {kept} kept; first job stored by the "
            f"promoted standby after {recovery:.1f} s, /readyz passing after {ready_after:.1f} s"
        )


IN_FLIGHT_JOBS = 16


@pytest.mark.slow
@pytest.mark.postgres
def test_jobs_in_flight_during_a_failover_finish_or_are_rescued_each_exactly_once(
    private_postgres: PrivatePostgres, spawn: Spawn, http_server: HTTPTestServer, tmp_path: Path
) -> None:
    """Workers on the multi-host URL are mid-download when the primary stops; the standby is
    promoted. Every job ends completed with exactly one stored file; a job claimed again after
    the failover is one that was running when the primary stopped."""
    primary, data_dir = private_postgres, tmp_path / "data"
    runtime = Runtime.from_env(database_url=primary.url, data_dir=data_dir)
    init_db(runtime.engine)
    for i in range(IN_FLIGHT_JOBS):  # one image dripped over ~1.5 s: the failover lands mid-run
        body = make_png(f"failover/{i}")
        http_server.route(f"/img{i}.png", body, "image/png", drip=1.5 / len(body))
        page = f'<html><body><img src="/img{i}.png"></body></html>'.encode()
        http_server.route(f"/page{i}.html", page, "text/html")
    ids = {
        runtime.jobs.create(
            NewJob(query=http_server.url(f"/page{i}.html"), max_content=1, enabled_sources=("url",))
        ).id
        for i in range(IN_FLIGHT_JOBS)
    }
    runtime.close()
    with standby_of(primary) as standby:
        hosts = f"host=127.0.0.1:{primary.port}&host=127.0.0.1:{standby.port}"
        url = f"postgresql+psycopg://postgres@/test?{hosts}&target_session_attrs=read-write"
        env = scraper_env(url, data_dir, SCRAPER_AUTO_HEAL="off")
        workers = [spawn("worker", "--concurrency", "2", env=env, log_name="worker") for _ in "ab"]
        watch = Runtime.from_env(database_url=url, data_dir=data_dir)
        wait_until(lambda: watch.store.count_by_status().get("completed", 0) >= 3, 90, "3 jobs")
        running_before = _running(watch)
        primary.stop()
        stopped_at = time.monotonic()
        assert running_before, "no job was in flight when the primary stopped"
        _promote(standby)
        wait_until(
            lambda: watch.store.count_by_status() == {"completed": IN_FLIGHT_JOBS},
            180,
            f"{IN_FLIGHT_JOBS} jobs completed on the promoted standby",
        )
        recovered = time.monotonic() - stopped_at
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            assert worker.wait(timeout=30) == 0
        logs = [w.log_path for w in workers]  # type: ignore[attr-defined]
        claimed = claims(logs)
        with watch.Session() as s:
            per_job = dict(
                s.execute(select(Asset.job_id, func.count()).group_by(Asset.job_id)).all()
            )
            attempts = dict(s.execute(select(ScrapeJob.id, ScrapeJob.attempts)).all())
        watch.close()
    assert set(claimed) == ids
    again = {job for job, n in claimed.items() if n > 1}
    assert again <= running_before, (again, running_before)  # only in-flight jobs re-run
    assert per_job == dict.fromkeys(ids, 1)  # each job stored its one file, once
    assert sum(attempts.values()) == IN_FLIGHT_JOBS + len(again)  # counted exactly
    assert len(runtime.fallback) == 0
    print(
        f"failover with jobs in flight: {IN_FLIGHT_JOBS} jobs, {len(running_before)} running "
        f"when the primary stopped, {len(again)} claimed again after it, 0 lost, "
        f"{sum(attempts.values())} attempts in all; all completed {recovered:.1f} s after the stop"
    )


def _running(runtime: Runtime) -> set[str]:
    with runtime.Session() as s:
        return set(s.scalars(select(ScrapeJob.id).where(ScrapeJob.status == "running")))
