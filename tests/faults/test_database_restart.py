"""Three worker processes keep running 50 jobs through a PostgreSQL restart, each job once."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from scraper.jobs import NewJob
from scraper.models import Asset, Base, ScrapeJob, utcnow
from scraper.runtime import Runtime
from scraper.sources.selftest import make_png
from tests.plugins.http_server import HTTPTestServer
from tests.plugins.pgcluster import PrivatePostgres
from tests.plugins.processes import Spawn, claims, scraper_env, wait_until

JOBS = 50


@pytest.mark.slow
@pytest.mark.postgres
def test_workers_reconnect_after_a_postgres_restart_and_run_every_job_once(
    private_postgres: PrivatePostgres, spawn: Spawn, http_server: HTTPTestServer, tmp_path: Path
) -> None:
    runtime = Runtime.from_env(database_url=private_postgres.url, data_dir=tmp_path / "data")
    Base.metadata.create_all(runtime.engine)
    # Each job downloads one image dripped over ~1 s, so the restart lands mid-download.
    for i in range(JOBS):
        body = make_png(f"restart/{i}")
        http_server.route(f"/img{i}.png", body, "image/png", drip=1.0 / len(body))
        page = f'<html><body><img src="/img{i}.png"></body></html>'.encode()
        http_server.route(f"/page{i}.html", page, "text/html")
    ids = {
        runtime.jobs.create(
            NewJob(query=http_server.url(f"/page{i}.html"), max_content=1, enabled_sources=("url",))
        ).id
        for i in range(JOBS)
    }
    env = scraper_env(private_postgres.url, tmp_path / "data", SCRAPER_AUTO_HEAL="off")
    workers = [spawn("worker", "--concurrency", "2", env=env, log_name="worker") for _ in range(3)]

    wait_until(lambda: runtime.store.count_by_status().get("completed", 0) >= 8, 90, "8 jobs")
    before = runtime.store.count_by_status()
    private_postgres.restart()
    restarted_at = utcnow()
    assert before.get("running", 0) > 0 and before.get("pending", 0) > 0, before
    wait_until(lambda: runtime.store.count_by_status() == {"completed": JOBS}, 180, f"{JOBS} jobs")
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        assert worker.wait(timeout=30) == 0

    logs = [w.log_path for w in workers]  # type: ignore[attr-defined]
    text = "".join(log.read_text() for log in logs)
    claimed = claims(logs)
    assert set(claimed) == ids and set(claimed.values()) == {1}, text[-3000:]
    assert {j.attempts for j in runtime.jobs.list(limit=100).jobs} == {1}
    with runtime.Session() as s:
        per_job = s.execute(select(Asset.job_id, func.count()).group_by(Asset.job_id)).all()
    assert {job for job, _ in per_job} == ids and {n for _, n in per_job} == {1}
    assert len(runtime.fallback) == 0
    with runtime.Session() as s:
        after = s.scalars(select(ScrapeJob.locked_by).where(ScrapeJob.finished_at > restarted_at))
        assert len(set(after)) == len(workers), "not every worker went on after the restart"
    assert "Traceback" not in text
    runtime.close()
