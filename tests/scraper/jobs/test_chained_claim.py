"""A busy worker claims its next job in the transaction that completes the last one: one
commit per job, with the completion's guarantees (fence, exactly once) kept."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError

from scraper.jobs import NewJob
from scraper.jobs.assets import asset_row
from scraper.jobs.record import JobRecord
from scraper.jobs.store import NextClaim
from scraper.runtime import Runtime
from scraper.sources import MediaItem
from scraper.sources.selftest import make_png
from scraper.worker import Worker
from tests.plugins.waiting import wait_until

JOB_LOOP = "worker-1"  # the first job loop's thread (worker-0 keeps house)


def _create(runtime: Runtime, query: str) -> str:
    return runtime.jobs.create(NewJob(query=query, max_content=1)).id


def _claimed(runtime: Runtime, worker: str) -> JobRecord:
    job = runtime.store.claim(worker, 30)
    assert job is not None
    return job


@contextmanager
def commits(runtime: Runtime, thread: str | None = None) -> Iterator[list[str]]:
    """The commits sent on the runtime's engine meanwhile (by `thread`, or by any)."""
    seen: list[str] = []

    def count(_conn: Any) -> None:
        name = threading.current_thread().name
        if thread is None or name == thread:
            seen.append(name)

    event.listen(runtime.engine, "commit", count)
    try:
        yield seen
    finally:
        event.remove(runtime.engine, "commit", count)


def test_a_completing_write_claims_the_next_job_in_its_own_commit(runtime: Runtime) -> None:
    first, second = _create(runtime, "a"), _create(runtime, "b")
    held = _claimed(runtime, "w1")
    then = NextClaim("w1", 30)
    with commits(runtime) as sent:
        assert runtime.store.complete(first, "w1", "done", held.lease_token, then=then)
    assert len(sent) == 1
    assert then.job is not None and then.job.id == second
    assert (then.job.status, then.job.locked_by, then.job.lease_token) == ("running", "w1", 1)
    assert runtime.store.get(first).status == "completed"
    stored = runtime.store.get(second)
    assert (stored.status, stored.locked_by, stored.attempts) == ("running", "w1", 1)


def test_an_empty_queue_leaves_the_next_claim_empty(runtime: Runtime) -> None:
    only = _create(runtime, "a")
    held = _claimed(runtime, "w1")
    then = NextClaim("w1", 30)
    assert runtime.store.complete(only, "w1", "done", held.lease_token, then=then)
    assert then.job is None


def test_a_refused_completion_writes_nothing_and_still_claims(runtime: Runtime) -> None:
    first, second = _create(runtime, "a"), _create(runtime, "b")
    held = _claimed(runtime, "w1")
    then = NextClaim("w2", 30)
    assert not runtime.store.complete(first, "w2", "not mine", held.lease_token, then=then)
    assert runtime.store.get(first).status == "running"
    assert then.job is not None and then.job.id == second and then.job.locked_by == "w2"


def test_a_completion_that_does_not_commit_claims_nothing(runtime: Runtime) -> None:
    first, second = _create(runtime, "a"), _create(runtime, "b")
    held = _claimed(runtime, "w1")
    item = MediaItem(url="selftest://1.png", mime="image/png", content=make_png("a"))
    row = asset_row(first, "selftest", item, runtime.files.put_bytes(item.content, "image/png"))
    assert runtime.store.add_assets("w1", held.lease_token, [row]).inserted
    then = NextClaim("w1", 30)
    with pytest.raises(IntegrityError):  # the row is recorded already: nothing is written
        runtime.store.complete(first, "w1", "done", held.lease_token, assets=[row], then=then)
    assert then.job is None
    assert runtime.store.get(first).status == "running"
    assert runtime.store.get(second).status == "pending"


def test_a_busy_worker_commits_once_per_job(runtime: Runtime) -> None:
    ids = [_create(runtime, f"j{i}") for i in range(6)]
    quiet = Runtime(runtime.settings.model_copy(update={"poll_interval": 30.0}))  # no idle polls
    worker = Worker(quiet, downloader=None)
    try:
        with commits(quiet, JOB_LOOP) as sent:
            worker.start()
            try:
                done = {"completed": len(ids)}
                wait_until(lambda: runtime.store.count_by_status() == done, 30, "the jobs done")
            finally:
                worker.stop()
    finally:
        quiet.close()
    # The first claim's commit, one per job (its completion and the next claim), and the
    # claim that found the queue empty; two commits per job before.
    assert len(sent) <= len(ids) + 2
    assert all(runtime.store.get(i).attempts == 1 for i in ids)


def test_a_job_claimed_for_a_run_that_does_not_come_is_released(runtime: Runtime) -> None:
    first, second = _create(runtime, "a"), _create(runtime, "b")
    worker = Worker(runtime, downloader=None)
    loop_commits: list[str] = []

    def stop_at_the_completion(_conn: Any) -> None:
        # The loop's first commit is its claim of `first`; the second completes it and claims
        # `second`: the worker is asked to stop then, before it can run `second`.
        if threading.current_thread().name == JOB_LOOP:
            loop_commits.append("commit")
            if len(loop_commits) == 2:
                worker.request_stop()

    event.listen(runtime.engine, "commit", stop_at_the_completion)
    try:
        worker.start()
        wait_until(lambda: worker.stopping, 30, "the worker to be asked to stop")
        worker.stop()
    finally:
        event.remove(runtime.engine, "commit", stop_at_the_completion)
    assert runtime.store.get(first).status == "completed"
    released = runtime.store.get(second)
    assert (released.status, released.locked_by, released.attempts) == ("pending", None, 0)
