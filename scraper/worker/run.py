"""Run one claimed job: search the sources round-robin, download through a bounded pool, store
each item once, record assets."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from scraper.counters import DOWNLOAD_BYTES, DOWNLOADS
from scraper.download.politeness import HostLimiter
from scraper.errors import DownloadError, ScraperError
from scraper.jobs.assets import asset_row, stored_keys
from scraper.jobs.fence import AssetsWritten, AssetWrite
from scraper.jobs.record import JobRecord
from scraper.jobs.store import JobStore, NextClaim
from scraper.logs import log_context
from scraper.schedules.seen import SeenItems
from scraper.sources.base import MediaItem
from scraper.sources.roundrobin import Found, Search, SourceFailed, Sources
from scraper.storage import Storage, StoredFile
from scraper.worker.pool import DownloadPool, Fetched, ItemFetcher
from scraper.worker.report import JobReport, skip_reason

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from scraper.download import Downloader
    from scraper.models import Asset

log = logging.getLogger(__name__)


class JobLost(ScraperError):
    """The job is no longer this worker's (cancelled, or its lease was rescued)."""


class ShuttingDown(ScraperError):
    """The worker was asked to stop between two items."""


class NothingStored(ScraperError):
    """Every item failed: the job fails with the first reasons."""


class StorageRefused(ScraperError):
    """The store refused files the job downloaded (full disk, object store down, no
    permission): the job is not complete. The worker requeues it after a backoff, and fails it
    saying so after `max_attempts`; the files it did store are kept, and the next run fetches
    only the missing ones (`JobRun.resume`)."""


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
        self._last = clock()  # the claim itself just proved the job ours
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


def final_values(report: JobReport) -> dict[str, Any]:
    """The final counts and result, recorded by the completing write."""
    return dict(downloaded=report.stored, bytes_downloaded=report.bytes, result=report.to_json())


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


@dataclass(frozen=True)
class Unrecorded:
    """A stored file whose asset row waits for the next fenced write."""

    source: str
    item: MediaItem
    stored: StoredFile
    row: Asset


BATCH = 100  # queued asset rows written at once at most
WAIT = 0.1  # seconds the job's thread waits for a result before it looks at should_stop again


class JobRun:
    """One execution of a claimed job, owning its steps: resume what earlier attempts stored,
    pull items from the sources (round-robin), download them through a bounded pool, record
    each new file once, report progress, and finish with a message or an exception.

    Everything but the downloads runs in the job's own thread, so its state needs no lock.
    """

    def __init__(self, job: JobRecord, ctx: ExecutionContext) -> None:
        self.job, self.ctx = job, ctx
        self.report = JobReport.start(job.max_content, job.enabled_sources, job.safe_search)
        self.progress = Progress(ctx.store, job, ctx.worker_id, ctx.progress_interval)
        self.sources = Sources(ctx.downloader, ctx.source_urls)
        self.fetch = ItemFetcher(ctx.files, ctx.downloader)
        self.urls: set[str] = set()  # seen in this job, for de-duplication
        self.hashes: set[str] = set()
        self.pool = DownloadPool(ctx.concurrency, self.fetch, ctx.hosts)
        # items earlier jobs of its user or schedule stored (incremental and scheduled jobs)
        self.seen: SeenItems | None = SeenItems.for_job(ctx.session_factory, job)
        self.final: dict[str, Any] = {}  # what the completing write records, once finished
        self.unrecorded: list[Unrecorded] = []  # stored files whose rows are not written yet
        self._unrecorded_since: float | None = None
        self.storage_problem: str | None = None  # the store's first refusal, if any

    def execute(self) -> str:
        """Run the job to the end; return the completion message or raise (the worker decides).

        At most `max_content` files are stored; leaving (cancel, lost lease, shutdown, error)
        cancels every download still in flight.
        """
        try:
            with self.pool:
                self.resume()
                self.search()
                while self.pool.busy:
                    self.settle(WAIT)
        except (JobLost, SQLAlchemyError):
            raise  # the rows would be refused, or the database cannot take them now
        except Exception:
            # What is stored stays recorded: a run after a shutdown resumes after it, and a
            # failed job (a bug in a source) keeps the files it got, as it did row by row.
            self._flush_before()
            raise
        return self.finish()

    def _flush_before(self) -> None:
        """Write the queued rows before an exception ends the run; if they cannot be written
        (the job is no longer ours, the database is away), say so: the exception still ends
        it."""
        queued = len(self.unrecorded)
        try:
            self.flush()
        except (JobLost, SQLAlchemyError) as refused:
            log.warning("job %s: %d file(s) not recorded: %s", self.job.id, queued, refused)

    def resume(self) -> None:
        """Count what earlier attempts of this job stored; their URLs and contents are skipped.

        A job's first claim (lease token 1) has no earlier attempt, so nothing is read; not
        `attempts`, which a release at shutdown gives back though files may have been stored.
        """
        if self.job.lease_token == 1:
            return
        for key in stored_keys(self.ctx.session_factory, self.job.id):
            self.urls.add(key.url)
            self.hashes.add(key.sha256)
            source = self.report.sources.get(key.source)
            if source is not None:
                source.stored += 1
                source.bytes += key.size_bytes
        if self.hashes:
            log.info(
                "job %s resumes with %d file(s) stored by earlier attempts",
                self.job.id,
                len(self.hashes),
            )

    def search(self) -> None:
        """Pull items from the sources while more are wanted, starting a download for each."""
        job = self.job
        terms = Search(job.enabled_sources, job.query, job.max_content, job.safe_search)
        results = self.sources.search(terms)
        while self.wanted():
            result = next(results, None)
            if result is None:
                return
            if isinstance(result, SourceFailed):
                self.source_failed(result)
                continue
            if self.ctx.should_stop():
                raise ShuttingDown(f"stopping before {result.item.url}")
            self.report.current = result.source
            self.start(result)
            self.settle(0)

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
                if self.is_new(fetched):
                    kept.append(fetched)
                fetched = self.pool.next_done(0)
            self.record(kept)
            self.pool.dispatch()
            self.progress.report(self.report)
        self.flush(due=True)
        self.progress.check_held(self.report)
        if self.ctx.should_stop():
            raise ShuttingDown(f"stopping with {self.pool.in_flight} downloads in flight")

    def source_failed(self, failed: SourceFailed) -> None:
        """Keep a broken source's reason on the report; the other sources go on."""
        self.report.sources[failed.source].error = str(failed.error)[:500]
        with log_context(source=failed.source):
            log.warning("job %s: source %s failed: %s", self.job.id, failed.source, failed.error)

    def start(self, found: Found) -> None:
        """Start downloading one item unless its URL was already seen in this job; in the order
        items start, so duplicates among in-process items resolve as they would one by one."""
        source, item = found.source, found.item
        report = self.report.sources[source]
        report.found += 1
        if self.seen is not None and self.seen.seen(source, item):  # decided before downloading
            report.skipped_seen += 1
            return
        if item.url in self.urls:
            report.skip("duplicate_url")
            return
        self.urls.add(item.url)
        if item.content is None:
            self.pool.add(source, item)
            return
        try:  # in-process bytes (selftest): nothing to wait for, so no pool thread either
            fetched = Fetched(source, item, stored=self.fetch(item))
        except OSError as exc:
            fetched = Fetched(source, item, error=exc)
        if self.is_new(fetched):
            self.record([fetched])

    def is_new(self, fetched: Fetched) -> bool:
        """True if a finished download is to be recorded: it did not fail and its content is
        not one this job already has (two URLs with the same bytes may finish together)."""
        report = self.report.sources[fetched.source]
        if fetched.stored is None:
            self.skip_failed(fetched)
            return False
        if fetched.stored.sha256 in self.hashes:
            report.skip("duplicate_content")
            return False
        self.hashes.add(fetched.stored.sha256)
        return True

    def record(self, kept: list[Fetched]) -> None:
        """Count what finished as stored and queue its asset rows: they are written, in one
        fenced transaction, at most `progress_interval` (or BATCH rows) later (`flush`), or by
        the completing write itself, so that a short job's files cost no commit of their own."""
        for f in kept:
            if f.stored is None:
                continue
            row = asset_row(self.job.id, f.source, f.item, f.stored)
            self.unrecorded.append(Unrecorded(f.source, f.item, f.stored, row))
            report = self.report.sources[f.source]
            report.stored += 1
            report.bytes += f.stored.size_bytes
        if self.unrecorded and self._unrecorded_since is None:
            self._unrecorded_since = self.progress.clock()

    def flush(self, due: bool = False) -> None:
        """Write the queued asset rows in one fenced transaction (with `due`: only once the
        oldest waited `progress_interval`, or BATCH are queued); JobLost (nothing written) once
        the job is no longer this worker's claim. A row the job already has (a concurrent
        insert of the same content) is counted as a duplicate instead."""
        if not self.unrecorded or self._unrecorded_since is None:
            return
        waited = self.progress.clock() - self._unrecorded_since
        if due and waited < self.ctx.progress_interval and len(self.unrecorded) < BATCH:
            return
        pending, job, ctx = self.unrecorded, self.job, self.ctx
        written = ctx.store.add_assets(ctx.worker_id, job.lease_token, [u.row for u in pending])
        self.recorded(not written.refused, written)
        if written.refused:
            raise JobLost(f"job {job.id} is no longer held by {ctx.worker_id}")

    def recorded(self, committed: bool, written: AssetsWritten | None = None) -> None:
        """The queued rows were written (`committed`) or refused: let go of the files they
        claimed, and count what was stored (`written` says which were duplicates)."""
        pending, self.unrecorded, self._unrecorded_since = self.unrecorded, [], None
        for u in pending:
            if u.stored.claimed:  # the row that references it is committed (or refused)
                self.ctx.files.release(u.stored.path)
        if not committed:
            return
        for u in pending:
            if written is not None and written.of(u.row) is AssetWrite.DUPLICATE:
                report = self.report.sources[u.source]
                report.stored -= 1  # counted when queued
                report.bytes -= u.stored.size_bytes
                report.skip("duplicate_content")
                continue
            DOWNLOADS.labels(source=u.source, result="ok").inc()
            DOWNLOAD_BYTES.labels(source=u.source).inc(u.stored.size_bytes)
        if self.seen is not None:
            self.seen.remember((u.source, u.item) for u in pending)

    def completion(self, message: str, then: NextClaim | None = None) -> Callable[[], bool]:
        """The completing write: the final report and the rows still queued, in one fenced
        transaction; False if refused. Should one of the rows be recorded already, they are
        written one by one first (`flush`, which sorts them out) and the job completed after.
        `then`: the worker's next claim, made in the same transaction."""
        job, ctx = self.job, self.ctx

        def write() -> bool:
            rows = [u.row for u in self.unrecorded]
            self.final = final_values(self.report)
            try:
                written = ctx.store.complete(
                    job.id,
                    ctx.worker_id,
                    message,
                    job.lease_token,
                    assets=rows,
                    then=then,
                    **self.final,
                )
            except IntegrityError:
                self.flush()
                return write()
            self.recorded(written)
            return written

        return write

    def skip_failed(self, fetched: Fetched) -> None:
        """Count a download that failed; anything but a download or storage error fails the job."""
        exc = fetched.error
        if not isinstance(exc, (DownloadError, OSError)):
            raise exc if exc is not None else AssertionError("a result with neither file nor error")
        reason = skip_reason(exc)
        if reason == "storage_error" and self.storage_problem is None:
            self.storage_problem = str(exc)
        DOWNLOADS.labels(
            source=fetched.source, result="refused" if reason != "storage_error" else "error"
        ).inc()
        self.report.sources[fetched.source].skip(reason, f"{fetched.item.url}: {exc}")
        with log_context(source=fetched.source):
            log.warning("job %s: %s not stored: %s", self.job.id, fetched.item.url, exc)

    def finish(self) -> str:
        """The completion message; `completion` writes the final report (one write, not a
        progress write and then another) and the rows still queued. StorageRefused if the
        store refused any downloaded file; NothingStored if every item and source failed (the
        per-source reasons stay on the failed job)."""
        report = self.report
        report.current = None
        refused = report.skipped("storage_error")
        if refused:
            self.flush()  # what it stored is kept: the retry fetches only the missing ones
            self.progress.report(report, force=True)
            raise StorageRefused(
                f"{refused} downloaded file(s) could not be stored ({self.storage_problem}); "
                f"the {report.stored} stored are kept and a retry fetches only the missing ones"
            )
        if report.stored == 0 and report.errors:
            self.flush()
            self.progress.report(report, force=True)
            raise NothingStored("; ".join(report.errors[:3]))
        return report.summary()
