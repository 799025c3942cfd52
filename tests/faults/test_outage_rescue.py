"""After a database outage a worker waits one lease before rescuing (issue 28, item 4): every
worker's lease ran out while nobody could renew, and the live ones need a moment to renew theirs
once the database answers; their jobs are not taken from them."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import text

from scraper import db
from scraper.models import JobStatus
from scraper.runtime import Runtime
from scraper.worker import Worker
from tests.plugins.pgcluster import PrivatePostgres, outage_runtime
from tests.plugins.processes import wait_until
from tests.plugins.web import make_app, make_users, submit

LEASE = 3.0


def answers(rt: Runtime) -> bool:
    try:
        with rt.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except db.DBAPIError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.postgres
def test_after_an_outage_a_live_workers_job_is_not_rescued_before_it_can_renew(
    private_postgres: PrivatePostgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = outage_runtime(private_postgres, tmp_path / "data", monkeypatch, LEASE, 1.0)
    job_id = submit(make_app(rt).test_client(), make_users(rt).a, "herons", 1)
    held = rt.store.claim("live-worker", LEASE)  # a live worker elsewhere runs the job
    assert held is not None and held.id == job_id
    rescuer = Worker(rt)
    rescuer.start()
    try:
        time.sleep(1)
        private_postgres.stop()
        time.sleep(LEASE + 1)  # the live worker's lease runs out: it cannot renew either
        private_postgres.start()
        wait_until(lambda: answers(rt), 30, "the database to answer")
        time.sleep(LEASE / 2)  # the live worker renews on its next round (every lease / 3)
        assert rt.store.heartbeat(job_id, "live-worker", LEASE, held.lease_token), (
            "the job was rescued from a live worker right after the outage: "
            f"{rt.store.get(job_id).message}"
        )
        # A worker that does not come back is still rescued, one lease later.
        wait_until(lambda: rt.store.get(job_id).status == JobStatus.PENDING, 20, "the rescue")
    finally:
        rescuer.stop()
        rt.close()
    assert "lost its lease" in (rt.store.get(job_id).message or "")
