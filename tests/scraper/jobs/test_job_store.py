"""The database job store on SQLite, PostgreSQL and MariaDB: lifecycle, leases, rescue."""

from __future__ import annotations

from datetime import timedelta

import pytest

from scraper.errors import JobNotFound, JobStateError
from scraper.jobs import NewJob
from scraper.models import utcnow
from scraper.runtime import Runtime


def _create(runtime: Runtime, query: str = "cats", n: int = 3, user_id: int | None = None) -> str:
    return runtime.jobs.create(NewJob(query=query, max_content=n), user_id=user_id).id


def test_full_lifecycle_pending_running_completed(runtime: Runtime) -> None:
    job_id = _create(runtime)
    assert runtime.store.get(job_id).status == "pending"

    claimed = runtime.store.claim("w1", lease_seconds=30)
    assert claimed is not None and claimed.id == job_id
    assert (claimed.status, claimed.locked_by, claimed.attempts) == ("running", "w1", 1)
    assert claimed.started_at is not None and claimed.lease_expires_at is not None

    assert runtime.store.progress(job_id, "w1", progress=50, downloaded=1, message="half")
    assert runtime.store.heartbeat(job_id, "w1", 30)
    assert runtime.store.complete(job_id, "w1", "3 files")

    done = runtime.store.get(job_id)
    assert (done.status, done.progress, done.message) == ("completed", 100, "3 files")
    assert done.finished_at is not None and done.lease_expires_at is None


def test_claim_takes_oldest_pending_and_nothing_twice(runtime: Runtime) -> None:
    first, second = _create(runtime, "a"), _create(runtime, "b")
    assert runtime.store.claim("w1", 30).id == first
    assert runtime.store.claim("w2", 30).id == second
    assert runtime.store.claim("w3", 30) is None


def test_only_the_lease_holder_can_write(runtime: Runtime) -> None:
    job_id = _create(runtime)
    runtime.store.claim("w1", 30)
    assert not runtime.store.heartbeat(job_id, "intruder", 30)
    assert not runtime.store.progress(job_id, "intruder", progress=10)
    assert not runtime.store.complete(job_id, "intruder")
    assert runtime.store.get(job_id).status == "running"


def test_fail_keeps_the_error(runtime: Runtime) -> None:
    job_id = _create(runtime)
    runtime.store.claim("w1", 30)
    assert runtime.store.fail(job_id, "w1", "boom: no sources answered")
    job = runtime.store.get(job_id)
    assert (job.status, job.error) == ("failed", "boom: no sources answered")


def test_cancel_a_running_job_makes_its_worker_lose_it(runtime: Runtime) -> None:
    job_id = _create(runtime)
    runtime.store.claim("w1", 30)
    assert runtime.jobs.cancel(job_id).status == "cancelled"
    assert not runtime.store.heartbeat(job_id, "w1", 30)
    with pytest.raises(JobStateError):
        runtime.jobs.cancel(job_id)


def test_retry_requeues_a_failed_job_and_refuses_a_pending_one(runtime: Runtime) -> None:
    job_id = _create(runtime)
    with pytest.raises(JobStateError):
        runtime.jobs.retry(job_id)
    runtime.store.claim("w1", 30)
    runtime.store.fail(job_id, "w1", "broken")
    retried = runtime.jobs.retry(job_id)
    assert (retried.status, retried.error, retried.attempts) == ("pending", None, 0)
    assert runtime.store.claim("w2", 30).id == job_id


def test_unknown_job_is_not_found(runtime: Runtime) -> None:
    with pytest.raises(JobNotFound):
        runtime.jobs.get("00000000-0000-0000-0000-000000000000")


@pytest.mark.slow
def test_users_see_only_their_jobs(runtime: Runtime) -> None:
    from scraper.accounts import create_user

    alice = create_user(runtime.Session, "alice", "password-a")
    bob = create_user(runtime.Session, "bob", "password-b")
    mine = _create(runtime, user_id=alice.id)
    _create(runtime, user_id=bob.id)
    page = runtime.jobs.list(user_id=alice.id)
    assert [j.id for j in page.jobs] == [mine] and page.total == 1
    with pytest.raises(JobNotFound):
        runtime.jobs.get(mine, user_id=bob.id)
    assert runtime.jobs.list().total == 2


def test_list_filters_by_status_and_pages(runtime: Runtime) -> None:
    ids = [_create(runtime, f"q{i}") for i in range(5)]
    runtime.store.claim("w1", 30)
    assert runtime.jobs.list(status="running").total == 1
    page = runtime.jobs.list(status="pending", limit=2, offset=2)
    assert page.total == 4 and len(page.jobs) == 2
    assert set(ids) >= {j.id for j in page.jobs}
    assert runtime.store.count_by_status() == {"pending": 4, "running": 1}


def test_expired_lease_is_requeued_with_backoff_then_failed_after_max(runtime: Runtime) -> None:
    job_id = _create(runtime)
    runtime.store.claim("dead-worker", lease_seconds=30)
    later = utcnow() + timedelta(seconds=60)

    rescued = runtime.store.rescue_expired(max_attempts=2, backoff_base=5, now=later)
    assert rescued.requeued == [job_id] and rescued.failed == []
    job = runtime.store.get(job_id)
    assert job.status == "pending" and job.locked_by is None
    assert job.run_after is not None and job.run_after > utcnow()
    assert runtime.store.claim("w2", 30) is None  # backing off

    with runtime.Session() as s, s.begin():
        from scraper.models import ScrapeJob

        s.get(ScrapeJob, job_id).run_after = None
    assert runtime.store.claim("w2", 30).attempts == 2
    rescued = runtime.store.rescue_expired(max_attempts=2, now=later + timedelta(seconds=60))
    assert rescued.failed == [job_id]
    failed = runtime.store.get(job_id)
    assert failed.status == "failed" and "lost its lease" in failed.error


def test_release_gives_the_job_back_without_spending_an_attempt(runtime: Runtime) -> None:
    job_id = _create(runtime)
    runtime.store.claim("w1", 30)
    assert runtime.store.release(job_id, "w1")
    job = runtime.store.get(job_id)
    assert (job.status, job.attempts, job.locked_by) == ("pending", 0, None)
