"""Deleting and pruning jobs: rows go, and a stored file goes only when no asset names it."""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from scraper.accounts import create_user
from scraper.errors import JobNotFound, JobStateError
from scraper.jobs.housekeeping import Removed, delete_job, prune, retention_pruner
from scraper.models import Asset, JobAttempt, ScrapeJob, utcnow
from scraper.runtime import Runtime
from scraper.sources.selftest import make_png
from scraper.storage import stored_key
from tests.conftest import sqlite_only


def add_job(
    rt: Runtime,
    seeds: list[str],
    status: str = "completed",
    age_days: float = 0,
    user_id: int | None = None,
) -> str:
    """A job row `age_days` old whose assets are the selftest PNGs of `seeds` (stored, and
    claimed files released once the rows commit, as a worker does)."""
    at = utcnow() - timedelta(days=age_days)
    job_id = str(uuid.uuid4())
    finished = at if status in ("completed", "failed", "cancelled") else None
    with rt.Session() as s, s.begin():
        s.add(
            ScrapeJob(
                id=job_id,
                user_id=user_id,
                status=status,
                query=f"q {job_id[:8]}",
                max_content=len(seeds) or 1,
                enabled_sources=["selftest"],
                created_at=at,
                updated_at=at,
                finished_at=finished,
            )
        )
        s.flush()
        kept = [rt.files.put_bytes(make_png(seed), "image/png", f"{seed}.png") for seed in seeds]
        for seed, stored in zip(seeds, kept, strict=True):
            s.add(
                Asset(
                    job_id=job_id,
                    source="selftest",
                    url=f"https://example.org/{seed}.png",
                    path=stored.path,
                    filename=stored.filename,
                    sha256=stored.sha256,
                    size_bytes=stored.size_bytes,
                    content_type=stored.content_type,
                    title=f"title {seed}",
                    license="CC BY 4.0",
                    author=f"author {seed}",
                    landing_url=f"https://example.org/page/{seed}",
                )
            )
        s.add(JobAttempt(job_id=job_id, attempt=1, status="failed", error="earlier"))
    for stored in kept:
        if stored.claimed:
            rt.files.release(stored.path)
    return job_id


def on_disk(rt: Runtime, seed: str) -> bool:
    """Whether the selftest PNG of `seed` is in storage."""
    return rt.files.exists(stored_key(hashlib.sha256(make_png(seed)).hexdigest(), "image/png"))


def count(rt: Runtime, model: type[ScrapeJob] | type[Asset] | type[JobAttempt]) -> int:
    with rt.Session() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def test_delete_job_removes_its_rows_and_only_the_files_no_other_job_holds(
    runtime: Runtime,
) -> None:
    mine = add_job(runtime, ["x", "shared"])
    other = add_job(runtime, ["shared", "z"])

    removed = delete_job(runtime.Session, runtime.files, mine)

    assert removed == Removed(jobs=1, assets=2, files=1)
    assert not on_disk(runtime, "x")
    assert on_disk(runtime, "shared") and on_disk(runtime, "z")
    assert (count(runtime, ScrapeJob), count(runtime, Asset), count(runtime, JobAttempt)) == (
        1,
        2,
        1,
    )
    assert delete_job(runtime.Session, runtime.files, other) == Removed(1, 2, 2)
    assert not on_disk(runtime, "shared")
    assert list(runtime.files.keys()) == []


@pytest.mark.parametrize("status", ["pending", "running"])
def test_delete_refuses_an_active_job(runtime: Runtime, status: str) -> None:
    job = add_job(runtime, ["a"], status=status)
    with pytest.raises(JobStateError, match="cancel it first"):
        delete_job(runtime.Session, runtime.files, job)
    assert count(runtime, ScrapeJob) == 1 and on_disk(runtime, "a")


def test_delete_of_an_unknown_or_another_users_job_is_not_found(runtime: Runtime) -> None:
    owner = create_user(runtime.Session, "owner", "pw-pw-pw-pw", admin=False)
    job = add_job(runtime, ["a"], user_id=owner.id)
    for job_id, user in [(str(uuid.uuid4()), None), (job, owner.id + 1), ("\x00", None)]:
        with pytest.raises(JobNotFound):
            delete_job(runtime.Session, runtime.files, job_id, user)
    assert delete_job(runtime.Session, runtime.files, job, owner.id).jobs == 1


def test_prune_removes_old_finished_jobs_in_batches_and_dry_run_counts_the_same(
    runtime: Runtime,
) -> None:
    old = [
        add_job(runtime, [f"old{n}", "shared-old"], status=s, age_days=40)
        for n, s in enumerate(["completed", "failed", "cancelled", "completed", "failed"])
    ]
    running = add_job(runtime, ["run"], status="running", age_days=40)
    recent = add_job(runtime, ["new", "shared-recent", "old0"], age_days=1)
    add_job(runtime, ["shared-recent"], age_days=50)

    dry = prune(runtime.Session, runtime.files, timedelta(days=30), dry_run=True)
    assert dry == Removed(jobs=6, assets=11, files=5)  # old1..4, shared-old, (shared-recent kept)
    assert count(runtime, ScrapeJob) == 8

    seen: list[Removed] = []
    done = prune(runtime.Session, runtime.files, timedelta(days=30), batch=2, progress=seen.append)

    assert done == dry
    assert [r.jobs for r in seen] == [2, 4, 6]
    with runtime.Session() as s:
        left = set(s.scalars(select(ScrapeJob.id)))
    assert left == {running, recent}
    assert not any(on_disk(runtime, f"old{n}") for n in range(1, 5))
    assert all(on_disk(runtime, k) for k in ["old0", "new", "shared-recent", "run"])
    assert not on_disk(runtime, "shared-old")
    assert prune(runtime.Session, runtime.files, timedelta(days=30)) == Removed()
    assert not set(old) & left


@pytest.mark.slow
@pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_a_prune_in_batches_lets_job_writes_through(runtime: Runtime) -> None:
    """While a prune deletes 2,000 jobs, new jobs are inserted, each within a second."""
    now = utcnow() - timedelta(days=90)
    rows = [
        dict(
            id=str(uuid.uuid4()),
            status="completed",
            query="old",
            max_content=1,
            enabled_sources=["selftest"],
            created_at=now,
            updated_at=now,
            finished_at=now,
        )
        for _ in range(2000)
    ]
    with runtime.Session() as s, s.begin():
        s.execute(ScrapeJob.__table__.insert(), rows)
    result: list[Removed] = []
    pruner = threading.Thread(
        target=lambda: result.append(
            prune(runtime.Session, runtime.files, timedelta(days=30), batch=100)
        )
    )
    latencies = []
    pruner.start()
    while pruner.is_alive():
        started = time.perf_counter()
        add_job(runtime, [], status="pending")
        latencies.append(time.perf_counter() - started)
    pruner.join()

    assert result == [Removed(jobs=2000, assets=0, files=0)]
    assert latencies and max(latencies) < 1.0, max(latencies)
    assert count(runtime, ScrapeJob) == len(latencies)


@sqlite_only
def test_the_retention_pruner_prunes_in_the_background_and_stops(runtime: Runtime) -> None:
    assert retention_pruner(runtime.Session, runtime.files, None) is None
    old = add_job(runtime, ["a"], age_days=8)
    pruner = retention_pruner(runtime.Session, runtime.files, 7)
    assert pruner is not None
    pruner.first = 0.01
    pruner.start()
    deadline = time.monotonic() + 10
    while count(runtime, ScrapeJob) and time.monotonic() < deadline:
        time.sleep(0.05)
    pruner.stop()
    assert count(runtime, ScrapeJob) == 0 and not on_disk(runtime, "a"), old


def race_once(runtime: Runtime, n: int, pause: float, how: str = "delete") -> tuple[bool, bool]:
    """Delete a job (`how`: by `delete_job`, or an `ops prune` of jobs older than 30 days)
    while another stores the same content for a new job, at once.

    Returns (the new job's file is on disk, the store found the file already there).
    """
    seed = f"race-{n}"
    old, new = add_job(runtime, [seed], age_days=40), add_job(runtime, [])
    start = threading.Barrier(2)
    claimed: list[bool] = []

    def store() -> None:
        start.wait()
        stored = runtime.files.put_bytes(make_png(seed), "image/png", "x.png")
        claimed.append(stored.claimed)
        time.sleep(pause)  # a worker records the row a moment after storing the file
        with runtime.Session() as s, s.begin():
            s.add(Asset(job_id=new, source="selftest", url=f"https://example.org/{seed}.png",
                        path=stored.path, filename=stored.filename, sha256=stored.sha256,
                        size_bytes=stored.size_bytes, content_type="image/png"))  # fmt: skip
        if stored.claimed:
            runtime.files.release(stored.path)

    def remove() -> None:
        start.wait()
        if how == "prune":
            assert prune(runtime.Session, runtime.files, timedelta(days=30)).jobs == 1
        else:
            delete_job(runtime.Session, runtime.files, old)

    errors: list[BaseException] = []

    def guarded(work: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                work()
            except BaseException as exc:  # re-raised below: a thread's error is not a loss
                errors.append(exc)

        return run

    threads = [threading.Thread(target=guarded(store)), threading.Thread(target=guarded(remove))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return on_disk(runtime, seed), claimed[0]


@pytest.mark.slow
@pytest.mark.parametrize(
    "db_url", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
@pytest.mark.parametrize("how", ["delete", "prune"])
def test_a_delete_racing_a_store_of_the_same_content_never_loses_the_file(
    runtime: Runtime, how: str
) -> None:
    """200 times (a prune: 100, to keep the suite short): the job being deleted and a new job
    share content stored at that moment."""
    times = 200 if how == "delete" else 100
    outcomes = [race_once(runtime, n, pause=(n % 5) * 0.001, how=how) for n in range(times)]
    lost = [n for n, (kept, _) in enumerate(outcomes) if not kept]
    claims = sum(claimed for _, claimed in outcomes)
    assert not lost, f"lost the file in iterations {lost} ({claims} stores found it there)"
    assert 0 < claims  # the interleaving where the store reuses the file did happen


@pytest.mark.slow
@sqlite_only
@pytest.mark.parametrize("how", ["delete", "prune"])
def test_on_s3_a_delete_racing_a_store_of_the_same_content_never_loses_the_file(
    s3_runtime: Runtime, how: str
) -> None:
    """The same race against a real SeaweedFS: an object store has no atomic rename, so the
    store's claim is an object of its own that the discard looks for after moving the file."""
    outcomes = [race_once(s3_runtime, n, pause=(n % 5) * 0.003, how=how) for n in range(60)]
    lost = [n for n, (kept, _) in enumerate(outcomes) if not kept]
    claims = sum(claimed for _, claimed in outcomes)
    assert not lost, f"lost the file in iterations {lost} ({claims} stores found it there)"
    assert 0 < claims
    assert list(s3_runtime.files.keys()), "the files are still listed as the store's keys"
