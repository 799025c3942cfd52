"""The stats rollup stays equal to the rows through the service's own writes: jobs created at
bucket edges by several users, claimed, given assets, completed with per-source results,
failed, cancelled, retried, rescued, deleted and pruned; and a job's finish and its counters
commit together or not at all."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select, text
from sqlalchemy.exc import DBAPIError

from scraper import rollup
from scraper.accounts import create_user
from scraper.jobs.housekeeping import delete_job, prune
from scraper.jobs.record import JobRecord
from scraper.jobs.stats import WINDOWS, compute_stats, stats_from_rows
from scraper.models import Asset, JobStatus, StatsRollup, utcnow
from scraper.rollup import SLOT_START
from scraper.runtime import Runtime

US = timedelta(microseconds=1)
WORKER = "rollup-worker"


def _floor(at: datetime, width: timedelta) -> datetime:
    return SLOT_START + (at - SLOT_START) // width * width


def job_record(at: datetime, user_id: int | None, **values: Any) -> JobRecord:
    """A job of `user_id`'s created (and updated) `at`, as the rollup tests insert it."""
    return JobRecord(
        id=str(uuid.uuid4()),
        query="q",
        max_content=3,
        safe_search=True,
        enabled_sources=["selftest", "url"],
        user_id=user_id,
        created_at=at,
        updated_at=at,
        **values,
    )


def _result(found: int, error: str | None = None) -> dict[str, Any]:
    per = {"found": found, "stored": found - 1, "error": error}
    return {"sources": {"selftest": per, "url": {"found": 1, "stored": 0}}}


def _asset(job_id: str, at: datetime, size: int) -> Asset:
    return Asset(
        job_id=job_id,
        source="selftest",
        url="http://x/",
        path="p",
        filename="f",
        sha256=uuid.uuid4().hex + uuid.uuid4().hex,
        size_bytes=size,
        content_type="image/png",
        created_at=at,
    )


def _rollup(rt: Runtime) -> dict[rollup.Key, dict[str, int]]:
    """The rollup's counters per (slot, user, source), summed over shards, where not zero."""
    with rt.Session() as s:
        return summed(s.scalars(select(StatsRollup)).all())


def summed(rows: Sequence[StatsRollup]) -> dict[rollup.Key, dict[str, int]]:
    table: dict[rollup.Key, dict[str, int]] = {}
    for r in rows:
        counts = table.setdefault((r.slot, r.user_id, r.source), dict.fromkeys(rollup.COUNTERS, 0))
        for c in rollup.COUNTERS:
            counts[c] += getattr(r, c)
    return {key: counts for key, counts in table.items() if any(counts.values())}


def _counted_now(rt: Runtime) -> dict[rollup.Key, dict[str, int]]:
    """What the rows hold now, counted by the database (as the backfill counts)."""
    with rt.Session() as s:
        return dict(rollup.counted(s, "j.id IS NOT NULL", {}).nonzero())


def _assert_equal(rt: Runtime, viewers: list[int | None]) -> None:
    assert _rollup(rt) == _counted_now(rt)
    for window in WINDOWS:
        for user in viewers:
            now = utcnow()
            expected = stats_from_rows(rt.Session, window, user, now)
            assert compute_stats(rt.Session, window, user, now) == expected, (window, user)


def _claim(rt: Runtime, lease: float = 60) -> JobRecord:
    job = rt.store.claim(WORKER, lease)
    assert job is not None
    return job


@pytest.mark.slow
def test_the_rollup_equals_the_rows_through_every_write(runtime: Runtime) -> None:
    store = runtime.store
    users = [None] + [create_user(runtime.Session, f"r{i}", "a long password 1").id for i in (1, 2)]
    now = utcnow()
    edges = [_floor(now, w) for w in (timedelta(minutes=5), timedelta(hours=1), timedelta(hours=6))]
    times = [t for e in edges for t in (e, e - US)]
    times += [now - timedelta(days=d) for d in (0.01, 0.7, 2, 6.99)]
    for i, at in enumerate(times * 2):
        store.insert(job_record(at, users[i % 3]))
    old = now - timedelta(days=9)  # held in the fallback and reconciled: inserted finished
    for i in range(3):
        finished = dict(status=JobStatus.COMPLETED, finished_at=old, result=_result(4 + i))
        store.insert(job_record(old - timedelta(minutes=7 * i), users[i], **finished))
    _assert_equal(runtime, users)

    deleted: list[str] = []
    for i in range(len(times) * 2 - 2):
        job = _claim(runtime)
        match i % 6:
            case 0:
                rows = [_asset(job.id, at, 100 + n) for n, at in enumerate(times[:4])]
                store.add_assets(WORKER, job.lease_token, rows)
                assert store.complete(job.id, WORKER, token=job.lease_token, result=_result(3))
            case 1:
                assert store.fail(job.id, WORKER, "boom", token=job.lease_token)
            case 2:
                store.add_assets(WORKER, job.lease_token, [_asset(job.id, now, 7)])
                store.complete(job.id, WORKER, token=job.lease_token, result=_result(2, "x"))
                deleted.append(job.id)
            case 3:  # still running, a partial result reported
                assert store.progress(job.id, WORKER, job.lease_token, result=_result(1))
            case 4:
                store.cancel(job.id)
            case _:
                assert store.fail(job.id, WORKER, "again", token=job.lease_token)
                store.retry(job.id)
    _assert_equal(runtime, users)

    rescued = _claim(runtime, lease=0)  # a dead worker's job: failed after its last attempt
    assert store.rescue_expired(max_attempts=1, now=utcnow() + timedelta(seconds=1)).failed == [
        rescued.id
    ]
    for job_id in deleted:
        delete_job(runtime.Session, runtime.files, job_id)
    assert prune(runtime.Session, runtime.files, timedelta(days=8)).jobs == 3
    _assert_equal(runtime, users)
    kept = _rollup(runtime)
    assert kept, "the rollup counts something"

    with runtime.engine.begin() as conn:  # counted again by the backfill: the same rows
        conn.execute(delete(StatsRollup))
        assert rollup.backfill(conn, batch=1) == len(times) * 2 - len(deleted)  # created in pairs
    assert _rollup(runtime) == kept


def _rename(rt: Runtime, old: str, new: str) -> None:
    with rt.engine.begin() as conn:
        conn.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))
    rt.engine.dispose()  # SQLite and MariaDB cache statements per connection


def test_a_finish_and_its_counters_commit_together(runtime: Runtime) -> None:
    """With the rollup unwritable the job's completion is refused too; once it is back, the
    completion and its counters are there at once."""
    runtime.store.insert(job_record(utcnow(), None))
    job = _claim(runtime)
    _rename(runtime, "stats_rollup", "stats_rollup_away")
    try:
        with pytest.raises(DBAPIError):
            runtime.store.complete(job.id, WORKER, token=job.lease_token, result=_result(5))
    finally:
        _rename(runtime, "stats_rollup_away", "stats_rollup")
    after = runtime.store.get(job.id)
    assert after is not None and after.status is JobStatus.RUNNING and after.result is None
    assert sum(c["completed"] for c in _rollup(runtime).values()) == 0

    assert runtime.store.complete(job.id, WORKER, token=job.lease_token, result=_result(5))
    counts = _rollup(runtime)
    assert sum(c["completed"] for c in counts.values()) == 1
    assert sum(c["found"] for c in counts.values()) == 6
    assert counts == _counted_now(runtime)
