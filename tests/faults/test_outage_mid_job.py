"""The database goes away mid-job for longer than a worker's write waits (issue 28, item 4): the
job is never failed for it; the worker hands it back with its stored files once the database
answers, and the next run resumes after them."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from scraper import db
from scraper.models import Asset
from scraper.runtime import Runtime
from scraper.worker import Worker
from tests.plugins.pgcluster import PrivatePostgres, outage_runtime
from tests.plugins.processes import wait_until
from tests.plugins.web import SlowFileStore, make_app, make_users, submit

ITEMS = 8


def stored(rt: Runtime, job_id: str) -> tuple[int, int]:
    """(asset rows, distinct contents) of the job; 0, 0 while the database is away."""
    try:
        with rt.Session() as s:
            rows = select(func.count(), func.count(func.distinct(Asset.sha256)))
            found = s.execute(rows.where(Asset.job_id == job_id)).one()
    except db.DBAPIError:
        return 0, 0
    return int(found[0]), int(found[1])


@pytest.mark.slow
@pytest.mark.postgres
def test_a_job_in_flight_through_a_database_outage_is_requeued_with_its_files_never_failed(
    private_postgres: PrivatePostgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each write waits 2 s for the database (not 30): the outage below outlasts two of them.
    rt = outage_runtime(private_postgres, tmp_path / "data", monkeypatch, 60, 2.0)
    rt.__dict__["files"] = SlowFileStore(rt.settings.data_dir, delay=0.3)  # 2.4 s of storing
    job_id = submit(make_app(rt).test_client(), make_users(rt).a, "herons", ITEMS)
    worker = Worker(rt)
    worker.start()
    try:
        wait_until(lambda: stored(rt, job_id)[0] >= 2, 30, "the job to store 2 files")
        private_postgres.stop()
        time.sleep(2.5)  # every write in flight gives up meanwhile
        private_postgres.start()
        wait_until(lambda: rt.store.get(job_id).status == "completed", 60, "the job to complete")
    finally:
        worker.stop()
        rt.close()
    job = rt.store.get(job_id)
    assert job.error is None, job.error
    assert stored(rt, job_id) == (ITEMS, ITEMS), "a file was lost or recorded twice"
    assert job.attempts == 1, "the outage cost the job an attempt"
    assert job.result["sources"]["selftest"]["skipped"].get("duplicate_url", 0) >= 2, (
        "the run after the outage fetched again what was stored before it"
    )
