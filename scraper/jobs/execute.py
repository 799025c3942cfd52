"""Run one claimed job: search each source, store each item, record each asset."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from scraper.assets import record_asset
from scraper.errors import DownloadError, ScraperError
from scraper.jobs.record import JobRecord
from scraper.jobs.store import JobStore
from scraper.metrics import DOWNLOAD_BYTES, DOWNLOADS
from scraper.sources import MediaItem, get_source
from scraper.storage import FileStore, StoredFile

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from scraper.download import Downloader

log = logging.getLogger(__name__)


class JobLost(ScraperError):
    """The job is no longer this worker's (cancelled, or its lease was rescued)."""


class ShuttingDown(ScraperError):
    """The worker was asked to stop between two items."""


class NothingStored(ScraperError):
    """Every item failed: the job fails with the first reasons."""


class Progress:
    """Throttled progress writes: at most one per `interval` seconds, never one per chunk."""

    def __init__(
        self,
        store: JobStore,
        job: JobRecord,
        worker_id: str,
        interval: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store, self.job, self.worker_id = store, job, worker_id
        self.interval, self.clock = interval, clock
        self._last = float("-inf")
        self.writes = 0

    def update(self, downloaded: int, size: int, message: str, force: bool = False) -> None:
        now = self.clock()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        percent = min(99, downloaded * 100 // max(1, self.job.max_content))
        self.writes += 1
        values = dict(progress=percent, downloaded=downloaded, bytes_downloaded=size)
        if not self.store.progress(self.job.id, self.worker_id, message=message[:500], **values):
            raise JobLost(f"job {self.job.id} is no longer held by {self.worker_id}")


@dataclass
class ExecutionContext:
    """What a job run needs from its worker."""

    store: JobStore
    session_factory: sessionmaker[Session]
    files: FileStore
    downloader: Downloader | None
    worker_id: str
    should_stop: Callable[[], bool]
    progress_interval: float = 0.5


@dataclass
class Tally:
    downloaded: int = 0
    size: int = 0
    errors: list[str] = field(default_factory=list)


def execute(job: JobRecord, ctx: ExecutionContext) -> str:
    """Run `job` to the end; return the completion message or raise (the worker decides)."""
    progress = Progress(ctx.store, job, ctx.worker_id, ctx.progress_interval)
    tally = Tally()
    for name in job.enabled_sources:
        remaining = job.max_content - tally.downloaded
        if remaining <= 0:
            break
        items = _search(job, name, remaining, ctx, tally)
        for item in items:
            if ctx.should_stop():
                raise ShuttingDown(f"stopping before {item.url}")
            _store_one(job, name, item, ctx, tally)
            progress.update(tally.downloaded, tally.size, f"{name}: {tally.downloaded} stored")
    if tally.downloaded == 0 and tally.errors:
        raise NothingStored("; ".join(tally.errors[:3]))
    message = f"{tally.downloaded} files, {tally.size} bytes"
    progress.update(tally.downloaded, tally.size, message, force=True)
    return message


def _search(
    job: JobRecord, name: str, limit: int, ctx: ExecutionContext, tally: Tally
) -> list[MediaItem]:
    try:
        return get_source(name, ctx.downloader).search(job.query, limit, job.safe_search)[:limit]
    except (ScraperError, OSError) as exc:
        tally.errors.append(f"{name} search failed: {exc}")
        log.warning(
            "job %s: source %s search failed: %s",
            job.id,
            name,
            exc,
            extra={"job_id": job.id, "source": name},
        )
        return []


def _store_one(
    job: JobRecord, source: str, item: MediaItem, ctx: ExecutionContext, tally: Tally
) -> None:
    try:
        stored = _fetch(item, ctx)
    except (DownloadError, OSError) as exc:
        result = "refused" if isinstance(exc, DownloadError) else "error"
        DOWNLOADS.labels(source=source, result=result).inc()
        tally.errors.append(f"{item.url}: {exc}")
        log.warning(
            "job %s: download failed: %s", job.id, exc, extra={"job_id": job.id, "source": source}
        )
        return
    record_asset(ctx.session_factory, job.id, source, item, stored)
    DOWNLOADS.labels(source=source, result="ok").inc()
    DOWNLOAD_BYTES.labels(source=source).inc(stored.size_bytes)
    tally.downloaded += 1
    tally.size += stored.size_bytes


def _fetch(item: MediaItem, ctx: ExecutionContext) -> StoredFile:
    if item.content is not None:
        return ctx.files.put_bytes(
            item.content, item.mime or "application/octet-stream", item.title
        )
    if ctx.downloader is None:
        raise DownloadError(item.url, "this worker has no downloader")
    return ctx.downloader.download(item.url, name_hint=item.title)
