"""Run one claimed job: search the sources round-robin, store each item once, record assets."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scraper.assets import record_asset
from scraper.errors import DownloadError, ScraperError
from scraper.jobs.plan import search_all
from scraper.jobs.record import JobRecord
from scraper.jobs.report import JobReport, skip_reason
from scraper.jobs.store import JobStore
from scraper.metrics.process import DOWNLOAD_BYTES, DOWNLOADS
from scraper.sources import MediaItem
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

    def update(
        self,
        downloaded: int,
        size: int,
        message: str,
        force: bool = False,
        report: JobReport | None = None,
    ) -> None:
        now = self.clock()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        percent = min(99, downloaded * 100 // max(1, self.job.max_content))
        self.writes += 1
        values: dict[str, Any] = dict(
            progress=percent, downloaded=downloaded, bytes_downloaded=size
        )
        if report is not None:
            values["result"] = report.to_json()  # built only when a write is due
        if not self.store.progress(self.job.id, self.worker_id, message=message[:500], **values):
            raise JobLost(f"job {self.job.id} is no longer held by {self.worker_id}")

    def report(self, report: JobReport, message: str | None = None, force: bool = False) -> None:
        self.update(
            report.stored,
            report.bytes,
            message or report.progress_message(),
            force=force,
            report=report,
        )


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
    source_urls: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Run:
    """One execution of a job: its report, and what it has seen so far (for de-duplication)."""

    job: JobRecord
    ctx: ExecutionContext
    report: JobReport
    urls: set[str] = field(default_factory=set)
    hashes: set[str] = field(default_factory=set)


def execute(job: JobRecord, ctx: ExecutionContext) -> str:
    """Run `job` to the end; return the completion message or raise (the worker decides)."""
    run = Run(job, ctx, JobReport.start(job.max_content, job.enabled_sources, job.safe_search))
    progress = Progress(ctx.store, job, ctx.worker_id, ctx.progress_interval)

    def wanted() -> bool:
        return run.report.stored < job.max_content

    found = search_all(
        job.enabled_sources,
        job.query,
        job.max_content,
        job.safe_search,
        ctx.downloader,
        ctx.source_urls,
        lambda name, exc: _source_failed(run, name, exc),
        wanted,
    )
    for name, item in found:
        if ctx.should_stop():
            raise ShuttingDown(f"stopping before {item.url}")
        run.report.current = name
        _take(run, name, item)
        progress.report(run.report)
    report = run.report
    report.current = None
    if report.stored == 0 and report.errors:
        progress.report(report, force=True)  # keep the per-source reasons on the failed job
        raise NothingStored("; ".join(report.errors[:3]))
    message = report.summary()
    progress.report(report, message, force=True)
    return message


def _source_failed(run: Run, name: str, exc: Exception) -> None:
    run.report.sources[name].error = str(exc)[:500]
    log.warning(
        "job %s: source %s failed: %s",
        run.job.id,
        name,
        exc,
        extra={"job_id": run.job.id, "source": name},
    )


def _take(run: Run, source: str, item: MediaItem) -> None:
    """Store one item unless it repeats one already seen (by URL, then by content)."""
    report = run.report.sources[source]
    report.found += 1
    if item.url in run.urls:
        report.skip("duplicate_url")
        return
    run.urls.add(item.url)
    try:
        stored = fetch_item(item, run.ctx.files, run.ctx.downloader)
    except (DownloadError, OSError) as exc:
        reason = skip_reason(exc)
        DOWNLOADS.labels(
            source=source, result="refused" if reason != "storage_error" else "error"
        ).inc()
        report.skip(reason, f"{item.url}: {exc}")
        log.warning(
            "job %s: %s not stored: %s",
            run.job.id,
            item.url,
            exc,
            extra={"job_id": run.job.id, "source": source},
        )
        return
    if stored.sha256 in run.hashes:
        report.skip("duplicate_content")
        return
    run.hashes.add(stored.sha256)
    # False: an earlier attempt of this job already recorded this file; it still counts.
    record_asset(run.ctx.session_factory, run.job.id, source, item, stored)
    DOWNLOADS.labels(source=source, result="ok").inc()
    DOWNLOAD_BYTES.labels(source=source).inc(stored.size_bytes)
    report.stored += 1
    report.bytes += stored.size_bytes


def fetch_item(item: MediaItem, files: FileStore, downloader: Downloader | None) -> StoredFile:
    """Store one item: its in-process bytes, or its URL through the guarded downloader."""
    if item.content is not None:
        return files.put_bytes(item.content, item.mime or "application/octet-stream", item.title)
    if downloader is None:
        raise DownloadError(item.url, "this worker has no downloader")
    return downloader.download(item.url, name_hint=item.title)
