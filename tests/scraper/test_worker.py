"""The in-process worker: runs jobs end to end, throttles progress, obeys cancel and shutdown."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from scraper.download.cancel import CancelToken
from scraper.errors import DownloadError
from scraper.jobs import NewJob
from scraper.jobs.assets import asset_row
from scraper.models import Asset
from scraper.runtime import Runtime
from scraper.sources import MediaItem, Source, register
from scraper.sources.selftest import make_png
from scraper.storage import StoredFile
from scraper.worker import Worker
from scraper.worker.run import Progress
from tests.conftest import sqlite_only
from tests.plugins.waiting import wait_until


@register
class SlowSource(Source):
    """Test source: its items are fetched by `SlowDownloader`, one every 20 ms."""

    name = "slowtest"
    description = "Test-only: items fetched slowly by SlowDownloader."

    def search(self, query: str, limit: int, safe_search: bool) -> list[MediaItem]:
        return [MediaItem(url=f"slow://{query}/{i}", mime="image/png") for i in range(limit)]


@register
class TwinSource(Source):
    """Test source: one in-process item whose asset row a twin of the job's claim (same worker
    and lease token, as threads of one process) records while the job's own run is under way."""

    name = "twintest"
    description = "Test-only: an item recorded by a twin while the job runs."
    runtime: Runtime | None = None

    def search(self, query: str, limit: int, safe_search: bool) -> list[MediaItem]:
        item = MediaItem(url="twin://1", mime="image/png", content=make_png(query))
        runtime = TwinSource.runtime
        assert runtime is not None
        (job,), _ = runtime.store.list_page(status="running")
        assert job.locked_by is not None
        stored = runtime.files.put_bytes(make_png(query), "image/png")
        row = asset_row(job.id, self.name, item, stored)
        assert runtime.store.add_assets(job.locked_by, job.lease_token, [row]).inserted
        return [item]


class SlowDownloader:
    """Stands in for the network: stores a generated PNG after a short wait."""

    def __init__(self, runtime: Runtime) -> None:
        self.files = runtime.files

    def download(
        self, url: str, name_hint: str | None = None, cancel: CancelToken | None = None
    ) -> StoredFile:
        time.sleep(0.02)
        return self.files.put_bytes(make_png(url), "image/png", name_hint)


class RefusingDownloader:
    """Stands in for a network that refuses every download."""

    def download(
        self, url: str, name_hint: str | None = None, cancel: CancelToken | None = None
    ) -> StoredFile:
        raise DownloadError(url, "HTTP 403 Forbidden")


def slow_worker(runtime: Runtime) -> Worker:
    return Worker(runtime, downloader=SlowDownloader(runtime))  # type: ignore[arg-type]


def test_selftest_job_runs_to_completion_with_files_and_assets(runtime: Runtime) -> None:
    job = runtime.jobs.create(NewJob(query="sunset", max_content=4))
    assert Worker(runtime, downloader=None).run_once()

    done = runtime.store.get(job.id)
    assert (done.status, done.progress, done.downloaded) == ("completed", 100, 4)
    with runtime.Session() as s:
        assets = s.scalars(select(Asset).where(Asset.job_id == job.id)).all()
    assert len(assets) == 4 and done.bytes_downloaded == sum(a.size_bytes for a in assets)
    for asset in assets:
        path = runtime.files.resolve(asset.path)
        assert path.is_relative_to(Path(runtime.settings.data_dir).resolve() / "downloads")
        assert path.read_bytes() in {make_png(f"sunset/{i}") for i in range(1, 5)}


def test_a_last_file_a_twin_recorded_is_counted_once(runtime: Runtime) -> None:
    """The completing write carries the job's last rows; one recorded meanwhile fails it as a
    whole, and the rows are sorted out one by one: the job completes, the file counted as a
    duplicate, one asset row."""
    TwinSource.runtime = runtime
    job = runtime.jobs.create(NewJob(query="twin", max_content=1, enabled_sources=("twintest",)))
    assert Worker(runtime, downloader=None).run_once()

    done = runtime.store.get(job.id)
    assert done is not None and (done.status, done.downloaded) == ("completed", 0)
    assert (done.result or {})["sources"]["twintest"]["skipped"] == {"duplicate_content": 1}
    with runtime.Session() as s:
        assert len(s.scalars(select(Asset).where(Asset.job_id == job.id)).all()) == 1


def test_identical_content_is_stored_once(runtime: Runtime) -> None:
    for _ in range(2):
        runtime.jobs.create(NewJob(query="same", max_content=2))
    worker = Worker(runtime, downloader=None)
    while worker.run_once():
        pass
    files = list((runtime.settings.data_dir / "downloads").rglob("*.png"))
    with runtime.Session() as s:
        assert len(s.scalars(select(Asset)).all()) == 4
    assert len(files) == 2


@sqlite_only
def test_a_failed_job_logs_one_line_without_a_traceback(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    job = runtime.jobs.create(NewJob(query="no", max_content=2, enabled_sources=("slowtest",)))
    worker = Worker(runtime, downloader=RefusingDownloader())  # type: ignore[arg-type]
    with caplog.at_level(logging.INFO, logger="scraper.worker"):
        assert worker.run_once()
    assert runtime.store.get(job.id).status == "failed"
    failed = [r for r in caplog.records if f"job {job.id} failed" in r.getMessage()]
    assert len(failed) == 1 and failed[0].levelno == logging.ERROR
    assert not failed[0].exc_info and "\n" not in failed[0].getMessage()
    assert "NothingStored" in failed[0].getMessage() and "403" in failed[0].getMessage()


def test_progress_writes_are_throttled(runtime: Runtime) -> None:
    job = runtime.jobs.create(NewJob(query="x", max_content=100))
    claimed = runtime.store.claim("w1", 30)
    now = [0.0]
    progress = Progress(runtime.store, claimed, "w1", interval=0.5, clock=lambda: now[0])
    for i in range(100):  # 100 items within one simulated second
        now[0] = i / 100
        progress.update(i, i * 10, "working")
    assert progress.writes == 1  # at 0.5 s; none at 0 s: the claim had just been written
    assert runtime.store.get(job.id).downloaded == 50


def test_cancel_stops_the_worker_at_the_next_item(runtime: Runtime) -> None:
    job = runtime.jobs.create(NewJob(query="slow", max_content=200, enabled_sources=("slowtest",)))
    worker = slow_worker(runtime)
    worker.start()
    try:
        wait_until(lambda: runtime.store.get(job.id).status == "running", 10, "the job to run")
        runtime.jobs.cancel(job.id)
        wait_until(lambda: not worker._held, 15, "the worker to drop the job")
    finally:
        worker.stop()
    final = runtime.store.get(job.id)
    assert final.status == "cancelled" and final.downloaded < 200


def test_stop_releases_the_job_in_hand(runtime: Runtime) -> None:
    job = runtime.jobs.create(NewJob(query="held", max_content=200, enabled_sources=("slowtest",)))
    worker = slow_worker(runtime)
    worker.start()
    wait_until(lambda: runtime.store.get(job.id).status == "running", 10, "the job to run")
    worker.stop()
    released = runtime.store.get(job.id)
    assert (released.status, released.locked_by, released.attempts) == ("pending", None, 0)


@pytest.mark.parametrize("concurrency", [3])
@pytest.mark.slow
def test_threads_of_one_worker_never_share_a_job(runtime: Runtime, concurrency: int) -> None:
    ids = {runtime.jobs.create(NewJob(query=f"t{i}", max_content=1)).id for i in range(12)}
    worker = Worker(runtime, concurrency=concurrency, downloader=None)
    worker.start()
    try:
        done = {"completed": 12}
        wait_until(lambda: runtime.store.count_by_status() == done, 30, "12 completed jobs")
    finally:
        worker.stop()
    assert {j.id for j in runtime.jobs.list(limit=50).jobs} == ids
    assert all(j.attempts == 1 for j in runtime.jobs.list(limit=50).jobs)
