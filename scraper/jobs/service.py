"""The job service: the database first; the fallback when the database refuses, never silently."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field

from sqlalchemy.exc import SQLAlchemyError

from scraper.errors import JobNotFound, JobStateError, one_line
from scraper.jobs.fallback import FallbackStore
from scraper.jobs.history import record_attempt
from scraper.jobs.reader import JobFilter, JobReader
from scraper.jobs.reads.keyset import Position, after_row, encode
from scraper.jobs.reconcile import ReconcileResult, reconcile
from scraper.jobs.record import JobRecord
from scraper.jobs.store import JobStore
from scraper.logs import log_context
from scraper.models import FINAL_STATUSES, JobStatus, utcnow

JOB_ID_LENGTH = 36  # scrape_jobs.id holds a UUID string
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NewJob:
    """A validated search request."""

    query: str
    max_content: int
    safe_search: bool = True
    enabled_sources: tuple[str, ...] = ("selftest",)
    job_type: str = "search"
    incremental: bool = False  # skip items an earlier job of the same user stored


@dataclass
class JobPage:
    jobs: list[JobRecord]
    total: int
    database_error: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    # Model columns `scrape_jobs` lacks: its jobs were read without them (a drifted schema).
    missing_columns: list[str] = field(default_factory=list)
    # The opaque cursor of the following page (None on the last page); see reads.keyset.
    next_cursor: str | None = None
    # True when `total` is the database planner's estimate (past reads.counting.EXACT_LIMIT).
    total_is_estimate: bool = False


def refusal_reason(exc: BaseException) -> str:
    """The database's own words, first line: what `storage: fallback` warnings show."""
    return one_line(exc)


class JobService:
    """Create, read and act on jobs across the database and the fallback store."""

    def __init__(
        self, store: JobStore, fallback: FallbackStore, reader: JobReader | None = None
    ) -> None:
        self.store = store
        self.fallback = fallback
        self.reader = reader or JobReader(store.Session)

    def create(self, spec: NewJob, user_id: int | None = None) -> JobRecord:
        now = utcnow()
        record = JobRecord(
            id=str(uuid.uuid4()),
            user_id=user_id,
            job_type=spec.job_type,
            query=spec.query,
            max_content=spec.max_content,
            safe_search=spec.safe_search,
            enabled_sources=list(spec.enabled_sources),
            incremental=spec.incremental,
            message="queued",
            created_at=now,
            updated_at=now,
        )
        try:
            saved = self.store.insert(record)
        except SQLAlchemyError as exc:
            return self._hold(record, exc)
        from scraper.counters import JOBS_CREATED  # prometheus_client: not for a reader's import

        JOBS_CREATED.labels(storage="database").inc()
        with log_context(job_id=saved.id):
            log.info("job %s created in the database", saved.id)
        return saved

    def _hold(self, record: JobRecord, exc: SQLAlchemyError) -> JobRecord:
        from scraper.counters import JOB_PERSIST_FAILURES, JOBS_CREATED

        reason = refusal_reason(exc)
        JOB_PERSIST_FAILURES.labels(reason=type(exc).__name__).inc()
        JOBS_CREATED.labels(storage="fallback").inc()
        with log_context(job_id=record.id):
            log.error(
                "database refused job %s, holding it in the fallback store: %s",
                record.id,
                reason,
                exc_info=exc,
            )
        record.message = "held in fallback: database refused the write"
        held = self.fallback.put(record, reason=reason)
        held.refusal = reason
        held.warning = (
            f"the database refused this job ({reason}); it is held in the fallback store "
            "and will run once it is reconciled (run `ops doctor`)"
        )
        return held

    def get(self, job_id: str, user_id: int | None = None) -> JobRecord:
        """The job, from whichever store has it; JobNotFound if absent or not the user's.

        A database that cannot answer raises its SQLAlchemyError: the job may exist, so it
        is "unavailable", never "not found". An id no row can hold (too long, NUL, control
        characters) is not found without asking: the database would refuse the comparison.
        """
        if len(job_id) > JOB_ID_LENGTH or not job_id.isprintable():
            raise JobNotFound(job_id)
        record = self.fallback.get(job_id) or self.reader.get(job_id)
        if record is None or (user_id is not None and record.user_id != user_id):
            raise JobNotFound(job_id)
        return record

    def list(
        self,
        status: str | None = None,
        storage: str | None = None,
        user_id: int | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> JobPage:
        """Fallback jobs first (they need attention), then the database's, newest first."""
        return self.search(JobFilter(status=status, user_id=user_id), storage, limit, offset)

    def search(
        self,
        where: JobFilter,
        storage: str | None = None,
        limit: int = 50,
        offset: int = 0,
        after: Position | None = None,
    ) -> JobPage:
        """Jobs matching `where` from both stores: fallback ones first, then the database's.

        `after` (a decoded cursor) continues where an earlier page stopped, without OFFSET.
        """
        held = [r for r in self.fallback.jobs() if where.matches(r)]
        held = [] if storage == "database" else held
        skip = offset if after is None else (len(held) if after.in_database else after.held)
        page = JobPage(jobs=held[skip : skip + limit], total=len(held))
        shown = skip + len(page.jobs)
        if storage == "fallback":
            if shown < len(held):
                page.next_cursor = encode(Position(where.sort, held=shown))
            return page
        db_offset = max(0, offset - len(held)) if after is None else 0
        db_after = after if after is not None and after.in_database else None
        try:
            found = self.reader.page(where, limit - len(page.jobs), db_offset, db_after)
            page.missing_columns = self.reader.missing_columns()
        except SQLAlchemyError as exc:
            page.database_error = refusal_reason(exc)
            return page
        page.jobs.extend(found.jobs)
        page.total += found.total
        page.total_is_estimate = found.estimated
        if found.last is not None:
            page.next_cursor = encode(after_row(where.sort, len(held), found.last))
        elif shown < len(held) or (not found.jobs and shown == len(held) and found.total):
            page.next_cursor = encode(Position(where.sort, held=shown))
        return page

    def cancel(self, job_id: str, user_id: int | None = None) -> JobRecord:
        record = self.get(job_id, user_id)
        if record.storage == "database":
            return self.store.cancel(job_id)
        if record.status in FINAL_STATUSES:
            raise JobStateError(job_id, f"job {job_id} is already {record.status}")
        record.status = JobStatus.CANCELLED
        record.message = "cancelled"
        record.finished_at = record.updated_at = utcnow()
        return self.fallback.put(record)

    def retry(self, job_id: str, user_id: int | None = None) -> JobRecord:
        record = self.get(job_id, user_id)
        if record.storage == "fallback":
            raise JobStateError(
                job_id, f"job {job_id} is held in the fallback store; reconcile it first"
            )
        retried = self.store.retry(job_id)
        try:
            record_attempt(self.store.Session, record)
        except SQLAlchemyError as exc:  # the retry stands; only its history line is lost
            log.error("job %s: could not keep its earlier attempt: %s", job_id, exc)
        return retried

    def reconcile(self, include_quarantined: bool = False) -> ReconcileResult:
        return reconcile(self.store, self.fallback, include_quarantined)
