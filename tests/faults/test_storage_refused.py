"""The store refuses files (issue 28, item 4): the job is not `completed`; it fails saying the
files it stored are kept and a retry fetches only the missing ones. While nothing can be
written, workers do not claim; once space is back they resume by themselves."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from scraper.models import Asset
from scraper.runtime import Runtime
from scraper.worker import Worker
from tests.conftest import sqlite_only
from tests.plugins.processes import wait_until
from tests.plugins.web import make_app, make_users, submit

PAGE = 4096  # a tmpfs block: each small stored file takes one


def fill(data_dir: Path, leave_pages: int) -> Path:
    """A file taking all the free space of `data_dir`'s filesystem but `leave_pages` blocks."""
    filler = data_dir / "filler"
    free = os.statvfs(data_dir).f_bavail * os.statvfs(data_dir).f_frsize
    with open(filler, "wb") as handle:
        handle.write(b"\0" * max(0, free - leave_pages * PAGE))
    return filler


def asset_count(rt: Runtime, job_id: str) -> int:
    with rt.Session() as s:
        return s.scalar(select(func.count()).where(Asset.job_id == job_id)) or 0


@pytest.mark.slow
@sqlite_only
def test_a_job_the_full_disk_cut_short_waits_and_completes_fetching_only_what_is_missing(
    runtime: Runtime, small_data_dir: Path
) -> None:
    (small_data_dir / "tmp").mkdir(exist_ok=True)
    (small_data_dir / "downloads").mkdir(exist_ok=True)
    client, users = make_app(runtime).test_client(), make_users(runtime)
    filler = fill(small_data_dir, leave_pages=3)
    job_id = submit(client, users.a, "herons", 8)

    Worker(runtime).run_once()
    job = runtime.store.get(job_id)
    stored = asset_count(runtime, job_id)
    assert job.status == "pending" and job.run_after is not None, (job.status, job.message)
    assert 0 < stored < 8, stored
    assert job.message.startswith("waiting 5 s for the storage (attempt 1): "), job.message
    assert f"the {stored} stored are kept" in job.message
    assert "No space left" in job.message or "ENOSPC" in job.message, job.message
    assert job.result["sources"]["selftest"]["skipped"]["storage_error"] == 8 - stored

    worker = Worker(runtime)
    worker.start()
    try:
        refused = "claims are failing: storage not writable"
        wait_until(lambda: (worker.claims.summary or "").startswith(refused), 30, "the refusal")
        time.sleep(6)  # past the job's backoff: the disk is still full, so nothing is claimed
        assert runtime.store.get(job_id).status == "pending"
        filler.unlink()
        wait_until(lambda: runtime.store.get(job_id).status == "completed", 30, "the job to end")
    finally:
        worker.stop()
    done = runtime.store.get(job_id)
    assert asset_count(runtime, job_id) == 8 and done.attempts == 2, done.message
    assert done.result["sources"]["selftest"]["skipped"] == {"duplicate_url": stored}, (
        "the second run downloaded again what the first stored"
    )
    assert worker.claims.summary is None, "claims resumed by themselves"


@pytest.mark.slow
@sqlite_only
def test_a_job_the_storage_refuses_every_time_fails_after_its_attempts_saying_why(
    runtime: Runtime, small_data_dir: Path
) -> None:
    client, users = make_app(runtime).test_client(), make_users(runtime)
    fill(small_data_dir, leave_pages=0)
    job_id = submit(client, users.a, "gulls", 2)
    rt = Runtime(runtime.settings.with_overrides(max_attempts=1))
    try:
        Worker(rt).run_once()
    finally:
        rt.close()
    job = runtime.store.get(job_id)
    assert job.status == "failed", (job.status, job.message)
    assert job.error.startswith("StorageRefused: 2 downloaded file(s) could not be stored ("), job
    assert "the 0 stored are kept and a retry fetches only the missing ones" in job.error

    # The server's words name the file it could not write; only an admin sees where it is.
    where = str(small_data_dir)
    assert where in job.error, job.error
    for viewer, sees_paths in ((users.a, False), (users.admin, True)):
        shown = client.get(f"/api/jobs/{job_id}", headers=viewer.headers).get_json()
        listed = client.get("/api/jobs", headers=viewer.headers).get_json()["jobs"][0]
        assert listed == shown
        assert (where in json.dumps(shown)) is sees_paths, shown["error"]
    hidden = client.get(f"/api/jobs/{job_id}", headers=users.a.headers).get_json()["error"]
    assert "no space left on device under the data directory" in hidden, hidden
