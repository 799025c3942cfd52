"""Run one claimed job: search the sources round-robin, download through a bounded pool, store
each item once, record assets."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from scraper.assets import asset_row, stored_keys
from scraper.download.cancel import CancelToken
from scraper.download.politeness import HostLimiter
from scraper.errors import DownloadError, ScraperError
from scraper.jobs.fence import AssetWrite
from scraper.jobs.plan import search_all
from scraper.jobs.pool import DownloadPool, Fetched
from scraper.jobs.record import JobRecord
from scraper.jobs.report import JobReport, skip_reason
from scraper.jobs.store import JobStore
from scraper.metrics.process import DOWNLOAD_BYTES, DOWNLOADS
from scraper.sources import MediaItem
from scraper.storage import Storage, StoredFile

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
        token = self.job.lease_token
        if not self.store.progress(
            self.job.id, self.worker_id, token, message=message[:500], **values
        ):
            raise JobLost(f"job {self.job.id} is no longer held by {self.worker_id}")

    def check_held(self, report: JobReport, idle: float = 1.0) -> None:
        """Write (and so learn whether the job is still ours) if nothing was written for
        `idle` seconds: a cancel is seen within a second even while every download is slow."""
        if self.clock() - self._last >= idle:
            self.report(report, force=True)

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
    files: Storage
    downloader: Downloader | None
    worker_id: str
    should_stop: Callable[[], bool]
    progress_interval: float = 0.5
    source_urls: Mapping[str, str] = field(default_factory=dict)
    concurrency: int = 1  # downloads in flight at once (SCRAPER_JOB_CONCURRENCY)
    hosts: HostLimiter | None = None  # the downloader's limiter: the pool queues per host


@dataclass
class Run:
    """One execution of a job: its report, and what it has seen so far (for de-duplication)."""

    job: JobRecord
    ctx: ExecutionContext
    report: JobReport
    progress: Progress
    pool: DownloadPool
    urls: set[str] = field(default_factory=set)
    hashes: set[str] = field(default_factory=set)

    def wanted(self) -> bool:
        """Whether to pull another item: waits (taking results) while no thread is free, or
        while what is under way could still fill `max_content`; False once it is full."""
        while True:
            self.pool.dispatch()
            if self.report.stored >= self.job.max_content:
                return False
            if self.pool.has_room and self.report.stored + self.pool.busy < self.job.max_content:
                return True
            self.settle(WAIT)

    def settle(self, timeout: float) -> None:
        """Start what can start, take the results that are in (waiting up to `timeout` for the
        first); stop early if the worker says so."""
        self.pool.dispatch()
        fetched = self.pool.next_done(timeout)
        if fetched is not None:
            kept: list[Fetched] = []
            while fetched is not None:
                if _new(self, fetched):
                    kept.append(fetched)
                fetched = self.pool.next_done(0)
            _record(self, kept)
            self.pool.dispatch()
            self.progress.report(self.report)
        self.progress.check_held(self.report)
        if self.ctx.should_stop():
            raise ShuttingDown(f"stopping with {self.pool.in_flight} downloads in flight")


WAIT = 0.1  # seconds the job's thread waits for a result before it looks at should_stop again


def execute(job: JobRecord, ctx: ExecutionContext) -> str:
    """Run `job` to the end; return the completion message or raise (the worker decides).

    Items flow from the sources (round-robin) into a pool of `ctx.concurrency` downloads;
    at most `max_content` files are stored, and leaving (cancel, lost lease, shutdown, error)
    cancels every download still in flight.
    """
    report = JobReport.start(job.max_content, job.enabled_sources, job.safe_search)
    progress = Progress(ctx.store, job, ctx.worker_id, ctx.progress_interval)
    with DownloadPool(ctx.concurrency, partial(_fetch, ctx), ctx.hosts) as pool:
        run = Run(job, ctx, report, progress, pool)
        _resume(run)
        found = search_all(
            job.enabled_sources,
            job.query,
            job.max_content,
            job.safe_search,
            ctx.downloader,
            ctx.source_urls,
            lambda name, exc: _source_failed(run, name, exc),
            run.wanted,
        )
        for name, item in found:
            if ctx.should_stop():
                raise ShuttingDown(f"stopping before {item.url}")
            run.report.current = name
            _start(run, name, item)
            run.settle(0)
        while pool.busy:
            run.settle(WAIT)
    return _finish(run)


def _finish(run: Run) -> str:
    report = run.report
    report.current = None
    if report.stored == 0 and report.errors:
        run.progress.report(report, force=True)  # keep the per-source reasons on the failed job
        raise NothingStored("; ".join(report.errors[:3]))
    message = report.summary()
    run.progress.report(report, message, force=True)
    return message


def _resume(run: Run) -> None:
    """Count what earlier attempts of this job stored; their URLs and contents are skipped."""
    for key in stored_keys(run.ctx.session_factory, run.job.id):
        run.urls.add(key.url)
        run.hashes.add(key.sha256)
        source = run.report.sources.get(key.source)
        if source is not None:
            source.stored += 1
            source.bytes += key.size_bytes
    if run.hashes:
        log.info(
            "job %s resumes with %d file(s) stored by earlier attempts",
            run.job.id,
            len(run.hashes),
            extra={"job_id": run.job.id},
        )


def _source_failed(run: Run, name: str, exc: Exception) -> None:
    run.report.sources[name].error = str(exc)[:500]
    log.warning(
        "job %s: source %s failed: %s",
        run.job.id,
        name,
        exc,
        extra={"job_id": run.job.id, "source": name},
    )


def _start(run: Run, source: str, item: MediaItem) -> None:
    """Start downloading one item unless its URL was already seen in this job; in the order
    items start, so duplicates among in-process items resolve as they would one by one."""
    report = run.report.sources[source]
    report.found += 1
    if item.url in run.urls:
        report.skip("duplicate_url")
        return
    run.urls.add(item.url)
    if item.content is None:
        run.pool.add(source, item)
        return
    try:  # in-process bytes (selftest): nothing to wait for, so no pool thread either
        fetched = Fetched(source, item, stored=fetch_item(item, run.ctx.files, None))
    except OSError as exc:
        fetched = Fetched(source, item, error=exc)
    if _new(run, fetched):
        _record(run, [fetched])


def _new(run: Run, fetched: Fetched) -> bool:
    """True if a finished download is to be recorded: it did not fail and its content is not
    one this job already has (two URLs with the same bytes may finish together)."""
    report = run.report.sources[fetched.source]
    if fetched.stored is None:
        _skip_failed(run, fetched)
        return False
    if fetched.stored.sha256 in run.hashes:
        report.skip("duplicate_content")
        return False
    run.hashes.add(fetched.stored.sha256)
    return True


def _record(run: Run, kept: list[Fetched]) -> None:
    """Record the asset rows of what finished together in one fenced transaction, then count
    them; JobLost (nothing written) once the job is no longer this worker's claim."""
    entries = [(f.source, f.item, f.stored) for f in kept if f.stored is not None]
    if not entries:
        return
    rows = [asset_row(run.job.id, source, item, stored) for source, item, stored in entries]
    written = run.ctx.store.add_assets(run.ctx.worker_id, run.job.lease_token, rows)
    for _source, _item, stored in entries:
        if stored.claimed:  # the row that references it is committed (or refused): let it go
            run.ctx.files.release(stored.path)
    if written.refused:
        raise JobLost(f"job {run.job.id} is no longer held by {run.ctx.worker_id}")
    for (source, _item, stored), row in zip(entries, rows, strict=True):
        report = run.report.sources[source]
        if written.of(row) is AssetWrite.DUPLICATE:  # a concurrent insert of the same content
            report.skip("duplicate_content")
            continue
        DOWNLOADS.labels(source=source, result="ok").inc()
        DOWNLOAD_BYTES.labels(source=source).inc(stored.size_bytes)
        report.stored += 1
        report.bytes += stored.size_bytes


def _skip_failed(run: Run, fetched: Fetched) -> None:
    """Count a download that failed; anything but a download or storage error fails the job."""
    exc = fetched.error
    if not isinstance(exc, (DownloadError, OSError)):
        raise exc if exc is not None else AssertionError("a result with neither file nor error")
    reason = skip_reason(exc)
    DOWNLOADS.labels(
        source=fetched.source, result="refused" if reason != "storage_error" else "error"
    ).inc()
    run.report.sources[fetched.source].skip(reason, f"{fetched.item.url}: {exc}")
    log.warning(
        "job %s: %s not stored: %s",
        run.job.id,
        fetched.item.url,
        exc,
        extra={"job_id": run.job.id, "source": fetched.source},
    )


def _fetch(ctx: ExecutionContext, item: MediaItem, cancel: CancelToken) -> StoredFile:
    return fetch_item(item, ctx.files, ctx.downloader, cancel)


def fetch_item(
    item: MediaItem,
    files: Storage,
    downloader: Downloader | None,
    cancel: CancelToken | None = None,
) -> StoredFile:
    """Store one item: its in-process bytes, or its URL through the guarded downloader."""
    if item.content is not None:
        return files.put_bytes(item.content, item.mime or "application/octet-stream", item.title)
    if downloader is None:
        raise DownloadError(item.url, "this worker has no downloader")
    return downloader.download(item.url, name_hint=item.title, cancel=cancel)
