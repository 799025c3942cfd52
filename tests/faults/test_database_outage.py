"""Jobs created while PostgreSQL is down: journaled, kept through a SIGKILL, reconciled once.

SQLite is left out on purpose: an embedded file has no "unreachable server"; a running
process keeps writing through its open file descriptor even when the file is moved away.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from scraper.jobs import FallbackStore
from scraper.models import Base, ScrapeJob
from scraper.runtime import Runtime
from tests.faults.conftest import Serve, api_session
from tests.plugins.pgcluster import PrivatePostgres
from tests.plugins.processes import Spawn, claims, scraper_env, wait_until

JOBS = 5
MOVED = re.compile(r"reconcile: job ([0-9a-f-]{36}) moved into the database")


def in_memory(url: str) -> float:
    """`scraper_jobs_in_memory{status="pending"}` from the server's /metrics."""
    text = requests.get(url + "/metrics", timeout=10).text
    match = re.search(r'^scraper_jobs_in_memory\{status="pending"\} (\S+)$', text, re.M)
    assert match, text[:2000]
    return float(match.group(1))


@pytest.mark.slow
@pytest.mark.postgres
def test_jobs_created_while_postgres_is_down_survive_a_sigkill_and_are_reconciled_once(
    private_postgres: PrivatePostgres, serve: Serve, spawn: Spawn, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    runtime = Runtime.from_env(database_url=private_postgres.url, data_dir=data_dir)
    Base.metadata.create_all(runtime.engine)
    api = api_session(runtime)
    env = scraper_env(private_postgres.url, data_dir, SCRAPER_RECONCILE_INTERVAL="0.5")
    web = serve(env, "--no-worker")
    assert api.get(web.url + "/api/jobs", timeout=10).status_code == 200

    private_postgres.stop()
    ids = set()
    for i in range(JOBS):
        body = {"query": f"outage {i}", "max_content": 2, "enabled_sources": ["selftest"]}
        reply = api.post(web.url + "/api/comprehensive-search", json=body, timeout=30)
        assert reply.status_code == 201, reply.text
        created = reply.json()
        assert created["storage"] == "fallback" and "refused" in created["warning"]
        ids.add(created["job_id"])
    assert {r.id for r in FallbackStore(data_dir / "fallback-jobs.jsonl").jobs()} == ids

    web.kill()
    web = serve(env, "--no-worker")  # the database is still down
    assert in_memory(web.url) == JOBS
    ready = requests.get(web.url + "/readyz", timeout=30).json()
    assert ready["status"] == "fail", ready
    assert ready["checks"]["fallback:jobs"][0]["observedValue"] == JOBS, ready
    worker = spawn("worker", "--concurrency", "2", env=env, log_name="worker")

    private_postgres.start()
    runtime.engine.dispose()
    wait_until(lambda: in_memory(web.url) == 0, 60, "the reconciler to empty the journal")
    wait_until(
        lambda: runtime.store.count_by_status() == {"completed": JOBS}, 90, "the jobs to run"
    )

    with runtime.Session() as s:
        rows = s.execute(select(ScrapeJob.id, func.count()).group_by(ScrapeJob.id)).all()
    assert {job for job, _ in rows} == ids and {n for _, n in rows} == {1}
    assert sorted(MOVED.findall(web.log)) == sorted(ids)
    worker_log = [Path(worker.log_path)]  # type: ignore[attr-defined]
    assert claims(worker_log) == dict.fromkeys(ids, 1)
    assert not FallbackStore(data_dir / "fallback-jobs.jsonl").jobs()
    runtime.close()
