"""Fenced worker writes and resumable jobs, on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from scraper.jobs import NewJob
from scraper.jobs.assets import asset_row
from scraper.jobs.fence import AssetWrite
from scraper.models import Asset
from scraper.runtime import Runtime
from scraper.sources import MediaItem
from scraper.sources.selftest import make_png
from scraper.worker import Worker


def asset_count(runtime: Runtime, job_id: str) -> int:
    with runtime.Session() as s:
        query = select(func.count()).select_from(Asset).where(Asset.job_id == job_id)
        return s.scalar(query) or 0


def store_item(runtime: Runtime, job_id: str, worker: str, token: int, n: int) -> AssetWrite:
    item = MediaItem(url=f"selftest://{n}.png", title=f"#{n}", mime="image/png")
    stored = runtime.files.put_bytes(make_png(f"fence/{n}"), "image/png", item.title)
    return runtime.store.add_asset(worker, token, asset_row(job_id, "selftest", item, stored))


def rescue_now(runtime: Runtime) -> None:
    """Requeue jobs claimed with an expired lease (`claim(worker, -5)`), runnable at once."""
    assert runtime.store.rescue_expired(max_attempts=5, backoff_base=0).requeued


def test_the_lease_token_grows_with_every_claim(runtime: Runtime) -> None:
    job = runtime.jobs.create(NewJob(query="t", max_content=2))
    first = runtime.store.claim("w1", -5)
    rescue_now(runtime)
    second = runtime.store.claim("w1", 30)
    assert first is not None and second is not None and second.id == job.id
    assert second.lease_token == first.lease_token + 1


def test_a_worker_woken_after_a_rescue_writes_nothing(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    """Same worker id on both claims (threads of one process): only the token tells them apart."""
    job = runtime.jobs.create(NewJob(query="t", max_content=3))
    stale = runtime.store.claim("w1", -5)
    assert stale is not None
    assert store_item(runtime, job.id, "w1", stale.lease_token, 1) is AssetWrite.STORED
    rescue_now(runtime)
    fresh = runtime.store.claim("w1", 30)
    assert fresh is not None

    with caplog.at_level(logging.WARNING):
        assert store_item(runtime, job.id, "w1", stale.lease_token, 2) is AssetWrite.REFUSED
        assert not runtime.store.progress(job.id, "w1", stale.lease_token, progress=90)
        assert not runtime.store.heartbeat(job.id, "w1", 30, stale.lease_token)
        assert not runtime.store.complete(job.id, "w1", "done", stale.lease_token)
    assert sum("refused" in r.getMessage() for r in caplog.records) == 4
    assert asset_count(runtime, job.id) == 1
    assert store_item(runtime, job.id, "w1", fresh.lease_token, 2) is AssetWrite.STORED
    assert runtime.store.complete(job.id, "w1", "done", fresh.lease_token)


def test_an_asset_of_a_cancelled_job_is_refused(runtime: Runtime) -> None:
    job = runtime.jobs.create(NewJob(query="t", max_content=3))
    claimed = runtime.store.claim("w1", 30)
    assert claimed is not None
    runtime.jobs.cancel(job.id)
    assert store_item(runtime, job.id, "w1", claimed.lease_token, 1) is AssetWrite.REFUSED
    assert asset_count(runtime, job.id) == 0


def test_a_rescued_job_resumes_from_what_is_stored(runtime: Runtime) -> None:
    job = runtime.jobs.create(NewJob(query="resume", max_content=4))
    first = runtime.store.claim("dead", -5)
    assert first is not None
    for n in (2, 9):  # an earlier attempt stored two items, one the next run will not see
        item = MediaItem(url=f"selftest://{n}.png", title="x", mime="image/png")
        stored = runtime.files.put_bytes(make_png(f"resume/{n}"), "image/png", "x")
        row = asset_row(job.id, "selftest", item, stored)
        assert runtime.store.add_asset("dead", first.lease_token, row) is AssetWrite.STORED
    rescue_now(runtime)

    assert Worker(runtime, downloader=None).run_once()
    done = runtime.store.get(job.id)
    assert done is not None and (done.status, done.downloaded) == ("completed", 4)
    assert asset_count(runtime, job.id) == 4
    report = done.result or {}
    skipped = report["sources"]["selftest"]["skipped"]
    assert skipped.get("duplicate_url") == 1, report


def test_an_asset_the_database_refuses_raises_its_error_once(runtime: Runtime) -> None:
    """A refusal that is no concurrent duplicate (here NOT NULL) propagates; it used to recurse
    until RecursionError, retrying the one row as if another worker had inserted it."""
    job = runtime.jobs.create(NewJob(query="t", max_content=1))
    held = runtime.store.claim("w1", 30)
    assert held is not None
    item = MediaItem(url="selftest://refused.png", title="refused", mime="image/png")
    stored = runtime.files.put_bytes(make_png("fence/refused"), "image/png", item.title)
    row = asset_row(job.id, "selftest", item, stored)
    row.source = None  # type: ignore[assignment]
    with pytest.raises(IntegrityError):
        runtime.store.add_asset("w1", held.lease_token, row)
    assert asset_count(runtime, job.id) == 0


def _row(runtime: Runtime, job_id: str, n: int) -> Asset:
    item = MediaItem(url=f"selftest://{n}.png", title=f"#{n}", mime="image/png")
    stored = runtime.files.put_bytes(make_png(f"last/{n}"), "image/png", item.title)
    return asset_row(job_id, "selftest", item, stored)


def test_the_completing_write_records_the_last_files_only_while_the_job_is_held(
    runtime: Runtime,
) -> None:
    """The rows a job's last write carries are fenced by its guarded update: a stale claim's
    completion inserts none of them; the holder's inserts them with the job completed."""
    job = runtime.jobs.create(NewJob(query="t", max_content=2))
    stale = runtime.store.claim("w1", -5)
    assert stale is not None
    rescue_now(runtime)
    fresh = runtime.store.claim("w1", 30)
    assert fresh is not None
    rows = [_row(runtime, job.id, 1), _row(runtime, job.id, 2)]

    assert not runtime.store.complete(job.id, "w1", "done", stale.lease_token, assets=rows)
    assert asset_count(runtime, job.id) == 0
    assert runtime.store.complete(job.id, "w1", "done", fresh.lease_token, assets=rows)
    assert asset_count(runtime, job.id) == 2
    done = runtime.store.get(job.id)
    assert done is not None and done.status == "completed"


def test_a_last_file_already_recorded_completes_the_job_without_a_second_row(
    runtime: Runtime,
) -> None:
    """One of the rows is there already (a concurrent insert): the completing write inserts
    nothing and says so; the rows are then sorted out one by one and the job completes."""
    job = runtime.jobs.create(NewJob(query="t", max_content=2))
    held = runtime.store.claim("w1", 30)
    assert held is not None
    rows = [_row(runtime, job.id, 1), _row(runtime, job.id, 2)]
    assert (
        runtime.store.add_assets("w1", held.lease_token, rows[:1]).of(rows[0]) is AssetWrite.STORED
    )

    with pytest.raises(IntegrityError):
        runtime.store.complete(job.id, "w1", "done", held.lease_token, assets=rows)
    assert asset_count(runtime, job.id) == 1
    written = runtime.store.add_assets("w1", held.lease_token, rows)
    assert [written.of(r) for r in rows] == [AssetWrite.DUPLICATE, AssetWrite.STORED]
    assert runtime.store.complete(job.id, "w1", "done", held.lease_token)
    assert asset_count(runtime, job.id) == 2
