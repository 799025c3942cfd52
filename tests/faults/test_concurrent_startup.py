"""Five processes start together against a drifted database while a sixth keeps creating jobs.

Each runs the start-up repair; under the schema lock one repairs and the others find nothing
to do. No process fails, no column or row is lost, the schema ends in sync, and every job
answered 201 is in the database exactly once.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select, text

from ops.smoke import free_port, wait_ready
from scraper.jobs import NewJob
from scraper.migrations.manage import check_schema, init_db
from scraper.models import ScrapeJob
from scraper.runtime import Runtime
from tests.faults.conftest import Serve, api_session
from tests.plugins.processes import Spawn, scraper_env, wait_until

STARTERS = 5
DROPPED = [("scrape_jobs", "updated_at"), ("scrape_jobs", "lease_token"), ("assets", "license")]


class JobCreator(threading.Thread):
    """Posts a search every 50 ms until stopped; remembers every answer."""

    def __init__(self, api: requests.Session, url: str) -> None:
        super().__init__(daemon=True)
        self.api, self.url = api, url
        self.accepted: list[str] = []
        self.other: list[str] = []
        self.halt = threading.Event()

    def run(self) -> None:
        n = 0
        while not self.halt.wait(0.05):
            n += 1
            body = {"query": f"start-up {n}", "max_content": 1, "enabled_sources": ["selftest"]}
            reply = self.api.post(self.url + "/api/comprehensive-search", json=body, timeout=60)
            if reply.status_code == 201:
                self.accepted.append(reply.json()["job_id"])
            else:
                self.other.append(f"{reply.status_code} {reply.text[:200]}")


def drift(runtime: Runtime) -> None:
    with runtime.engine.begin() as conn:
        for table, column in DROPPED:
            conn.execute(text(f"ALTER TABLE {table} DROP COLUMN {column}"))


def job_rows(runtime: Runtime) -> dict[str, int]:
    with runtime.Session() as s:
        rows = s.execute(select(ScrapeJob.id, func.count()).group_by(ScrapeJob.id)).all()
    return {job_id: count for job_id, count in rows}


@pytest.mark.slow
def test_five_processes_heal_a_drifted_database_together_and_lose_nothing(
    db_url: str, spawn: Spawn, serve: Serve, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    runtime = Runtime.from_env(database_url=db_url, data_dir=data_dir)
    init_db(runtime.engine)
    api = api_session(runtime)
    before = {runtime.jobs.create(NewJob(query=f"old {i}", max_content=1)).id for i in range(5)}
    drift(runtime)
    env = scraper_env(db_url, data_dir, SCRAPER_RECONCILE_INTERVAL="0.5")
    sixth = serve(dict(env, SCRAPER_AUTO_HEAL="off"), "--no-worker")
    creator = JobCreator(api, sixth.url)
    creator.start()
    wait_until(lambda: len(creator.accepted) >= 3, 30, "jobs accepted before the start-up")

    started = time.monotonic()
    ports = [free_port() for _ in range(2)]
    starters = [spawn("worker", env=env, log_name="worker") for _ in range(STARTERS - 2)]
    starters += [spawn("serve", "--no-worker", "--port", str(p), env=env) for p in ports]
    for worker in starters[:-2]:
        wait_until(lambda w=worker: "started with" in _log(w), 90, "a worker to start")
    for process, port in zip(starters[-2:], ports, strict=True):
        wait_ready(f"http://127.0.0.1:{port}", process, 90, process.log_path)  # type: ignore[attr-defined]
    creator.halt.set()
    creator.join(60)
    took = time.monotonic() - started

    processes = [*starters, sixth.process]
    assert all(process.poll() is None for process in processes)
    for process in starters:  # the sixth logs each refused insert with its traceback
        assert "Traceback" not in _log(process), _log(process)
        assert "schema repair failed" not in _log(process), _log(process)
    assert creator.other == [], creator.other
    assert check_schema(runtime.engine).in_sync, check_schema(runtime.engine).differences
    wait_until(lambda: not runtime.fallback.jobs(), 60, "every held job to be reconciled")
    rows = job_rows(runtime)
    assert set(creator.accepted) | before <= set(rows) and set(rows.values()) == {1}
    wait_until(
        lambda: runtime.store.count_by_status() == {"completed": len(rows)}, 120, "jobs to run"
    )
    repaired = sum("start-up schema repair:" in _log(p) for p in processes)
    print(
        f"\n{runtime.engine.dialect.name}: {STARTERS} starters up in {took:.1f}s, "
        f"{len(creator.accepted)} answered 201, {len(rows)} rows, repaired by {repaired}"
    )
    assert repaired == 1  # one repaired under the lock; the others found nothing to do
    runtime.close()


def _log(process: object) -> str:
    return Path(process.log_path).read_text()  # type: ignore[attr-defined]
