"""The database job store: every state change is one short transaction with a guard."""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ClauseElement,
    ColumnElement,
    Select,
    Update,
    bindparam,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from scraper import rollup
from scraper.db import retry_deadlock, retry_transient
from scraper.errors import JobNotFound, JobStateError
from scraper.jobs import chained
from scraper.jobs.fence import (
    AssetsWritten,
    AssetWrite,
    add_assets,
    fresh_copy,
    held_by,
    insert_assets,
)
from scraper.jobs.notify import notify_queued
from scraper.jobs.queries import lease_expired
from scraper.jobs.record import JobRecord
from scraper.logs import log_context
from scraper.models import (
    FINAL_STATUSES,
    Asset,
    JobStatus,
    ScrapeJob,
    claim_columns,
    claim_values,
    utcnow,
)

log = logging.getLogger(__name__)


@dataclass
class RescueResult:
    """Jobs whose lease expired: put back in the queue, or failed after too many attempts."""

    requeued: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


@dataclass
class NextClaim:
    """A claim made in a completing write's own transaction, so that a busy worker commits
    once per job: who claims, for how long, and the job it got once that write committed
    (None: nothing was runnable, or the write did not commit)."""

    worker_id: str
    lease_seconds: float
    job: JobRecord | None = None


def backoff_seconds(attempts: int, base: float = 5.0, cap: float = 600.0) -> float:
    """Exponential backoff before a rescued job may run again."""
    return float(min(cap, base * 2 ** max(0, attempts - 1)))


def _claim_candidate(now: Any) -> Select[Any]:
    """The oldest runnable pending job's id."""
    return (
        select(ScrapeJob.id)
        .where(
            ScrapeJob.status == JobStatus.PENDING.value,
            or_(ScrapeJob.run_after.is_(None), ScrapeJob.run_after <= now),
        )
        .order_by(ScrapeJob.created_at, ScrapeJob.id)
        .limit(1)
    )


# A claim's commit need not wait for the WAL flush. A claim lost in a server crash leaves
# the job pending as before it, and the claiming worker's every write is fenced by its
# `locked_by` (unique per worker process), so the job is simply claimed again. Nothing else
# can depend on the claim: the job's first result, like every worker write, commits
# synchronously, and WAL is flushed in order, so that commit makes the claim durable first.
# One WAL flush per job saved (the commits of a no-op job: one flushed instead of two).
_CLAIM_COMMIT = text("SET LOCAL synchronous_commit = off")


@functools.cache
def _claim_statement(dialect: str) -> Update:
    """The claim as one statement (PostgreSQL, SQLite), built once: building and keying it
    again on every claim cost more CPU than the database spends running it."""
    stamp = ScrapeJob.__table__.c.updated_at.type
    now = bindparam("claim_now", type_=stamp)
    candidate = _claim_candidate(now)
    if dialect == "postgresql":
        candidate = candidate.with_for_update(skip_locked=True)
    values = claim_columns(
        bindparam("claim_worker"),
        bindparam("claim_expires", type_=stamp),
        now,
        bindparam("claim_message"),
    )
    # The row is found by its primary key alone on PostgreSQL: the candidate's row lock
    # (taken after the server checked the row is still pending) holds it pending until this
    # update, so a second status test adds nothing, and it let the planner, without
    # statistics (a new table, a burst of jobs), scan every pending job by the status index
    # instead of the primary key. SQLite (no row locks, one writer) keeps the test.
    guard = [] if dialect == "postgresql" else [ScrapeJob.status == JobStatus.PENDING.value]
    return (
        update(ScrapeJob)
        .where(ScrapeJob.id == candidate.scalar_subquery(), *guard)
        .values(**values)
        .returning(*ScrapeJob.__table__.columns)
        .execution_options(synchronize_session=False)  # a fresh session: nothing to sync
    )


def _claim_params(worker_id: str, lease_seconds: float, now: datetime) -> dict[str, Any]:
    """`_claim_statement`'s parameters."""
    return dict(
        claim_worker=worker_id,
        claim_now=now,
        claim_expires=now + timedelta(seconds=lease_seconds),
        claim_message=f"claimed by {worker_id}",
    )


class JobStore:
    """Create, read and move jobs in `scrape_jobs`; errors from the database propagate."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.Session = session_factory

    # -- writes by the API -------------------------------------------------------------------

    def insert(self, record: JobRecord) -> JobRecord:
        with self.Session() as s, s.begin():
            row = ScrapeJob(**record.column_values())
            s.add(row)
            s.flush()
            rollup.add_job(s, row.id)
            notify_queued(s)
            return JobRecord.from_row(row)

    def insert_if_absent(self, record: JobRecord) -> bool:
        """Insert unless a row with this id exists; True when this call inserted it."""
        if self.get(record.id) is not None:
            return False
        try:
            self.insert(record)
        except IntegrityError:
            if self.get(record.id) is not None:
                return False
            raise
        return True

    def cancel(self, job_id: str) -> JobRecord:
        record = self._require(job_id)
        if record.status in FINAL_STATUSES:
            raise JobStateError(job_id, f"job {job_id} is already {record.status}")
        now = utcnow()
        changed = self._guarded(
            job_id,
            [ScrapeJob.status.in_([JobStatus.PENDING.value, JobStatus.RUNNING.value])],
            status=JobStatus.CANCELLED.value,
            message="cancelled",
            lease_expires_at=None,
            finished_at=now,
        )
        if not changed:
            raise JobStateError(job_id, f"job {job_id} finished before it could be cancelled")
        return self._require(job_id)

    def retry(self, job_id: str) -> JobRecord:
        record = self._require(job_id)
        if record.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
            raise JobStateError(
                job_id, f"only failed or cancelled jobs can be retried; job is {record.status}"
            )
        self._guarded(
            job_id,
            [ScrapeJob.status == record.status],
            status=JobStatus.PENDING.value,
            progress=0,
            attempts=0,
            error=None,
            message="queued for retry",
            locked_by=None,
            lease_expires_at=None,
            run_after=None,
            finished_at=None,
        )
        with self.Session() as s, s.begin():
            notify_queued(s)  # runnable again: wake an idle worker (PostgreSQL)
        return self._require(job_id)

    # -- reads -------------------------------------------------------------------------------

    def get(self, job_id: str) -> JobRecord | None:
        with self.Session() as s:
            row = s.get(ScrapeJob, job_id)
            return JobRecord.from_row(row) if row is not None else None

    def list_page(
        self,
        status: str | None = None,
        user_id: int | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[JobRecord], int]:
        """One page of jobs, newest first, and the total that match."""
        conditions = self._filters(status, user_id)
        with self.Session() as s:
            total = s.scalar(select(func.count()).select_from(ScrapeJob).where(*conditions)) or 0
            # Plain rows, not entities: the dashboard polls this, and ORM loading was most of
            # its time (benchmarks/load.py).
            rows = s.execute(
                select(*ScrapeJob.__table__.columns)
                .where(*conditions)
                .order_by(ScrapeJob.created_at.desc(), ScrapeJob.id)
                .limit(limit)
                .offset(offset)
            )
            return [JobRecord.from_row(r) for r in rows], total

    def count_by_status(self) -> dict[str, int]:
        with self.Session() as s:
            rows = s.execute(select(ScrapeJob.status, func.count()).group_by(ScrapeJob.status))
            return {status: count for status, count in rows}

    @staticmethod
    def _filters(status: str | None, user_id: int | None) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if status is not None:
            conditions.append(ScrapeJob.status == status)
        if user_id is not None:
            conditions.append(ScrapeJob.user_id == user_id)
        return conditions

    # -- the worker's side -------------------------------------------------------------------

    def claim(self, worker_id: str, lease_seconds: float) -> JobRecord | None:
        """Take the oldest runnable pending job under a lease, or None if there is none.

        One statement on PostgreSQL and SQLite (`UPDATE … WHERE id = (SELECT … FOR UPDATE
        SKIP LOCKED) RETURNING` the whole row, lease token included); MariaDB has no
        `UPDATE … RETURNING`, so it reads the row it just locked in the same transaction.

        On PostgreSQL a claim's commit does not wait for its WAL flush (`_CLAIM_COMMIT`). A
        claim the database chose as a deadlock's victim (MariaDB's gap locks against a
        completing write) is tried again at once, not after the claims' backoff.
        """
        return retry_deadlock(lambda: self._claim(worker_id, lease_seconds))

    def _claim(self, worker_id: str, lease_seconds: float) -> JobRecord | None:
        with self.Session() as s, s.begin():
            job = _claim_in(s, worker_id, lease_seconds)
            if job is not None and s.get_bind().dialect.name == "postgresql":
                s.execute(_CLAIM_COMMIT)  # an idle poll's commit writes nothing anyway
            return job

    def heartbeat(
        self, job_id: str, worker_id: str, lease_seconds: float, token: int | None = None
    ) -> bool:
        """Renew the lease; False when the job is no longer ours (cancelled or rescued)."""
        now = utcnow()
        return self._owned(
            job_id, worker_id, token, lease_expires_at=now + timedelta(seconds=lease_seconds)
        )

    def progress(
        self, job_id: str, worker_id: str, token: int | None = None, **values: Any
    ) -> bool:
        """Record progress (progress, downloaded, bytes_downloaded, message); False if lost."""
        return self._owned(job_id, worker_id, token, **values)

    def complete(
        self,
        job_id: str,
        worker_id: str,
        message: str = "completed",
        token: int | None = None,
        assets: Sequence[Asset] = (),
        then: NextClaim | None = None,
        **values: Any,
    ) -> bool:
        """Mark the job completed; `values` (the final counts and result) in the same write.

        `then`: claim the worker's next job in the same transaction, after the completion
        (whether or not it was refused); `then.job` says which once it committed.

        `assets`: the job's files not yet recorded, inserted in the same transaction after
        the fenced update (nothing is inserted if it is refused): a job's last files cost no
        commit of their own. IntegrityError if one of them is already recorded (nothing is
        written then: record them with `add_assets`, which sorts them out, and complete)."""
        return self._finish(
            job_id,
            worker_id,
            token,
            JobStatus.COMPLETED,
            assets=assets,
            then=then,
            message=message,
            progress=100,
            **values,
        )

    def fail(self, job_id: str, worker_id: str, error: str, token: int | None = None) -> bool:
        return self._finish(
            job_id, worker_id, token, JobStatus.FAILED, error=error, message="failed"
        )

    def release(
        self, job_id: str, worker_id: str, token: int | None = None, message: str | None = None
    ) -> bool:
        """Give a claimed job back (worker shutting down, database outage) without spending an
        attempt; its stored files stay, and its next run resumes after them."""
        return self._requeue(
            job_id,
            worker_id,
            token,
            attempts=ScrapeJob.attempts - 1,
            message=message or f"released by {worker_id} at shutdown",
        )

    def defer(
        self, job_id: str, worker_id: str, token: int | None, message: str, delay: float
    ) -> bool:
        """Requeue a claimed job to run again after `delay` seconds (the attempt counts)."""
        return self._requeue(
            job_id,
            worker_id,
            token,
            run_after=utcnow() + timedelta(seconds=delay),
            message=message[:500],
        )

    def _requeue(self, job_id: str, worker_id: str, token: int | None, **values: Any) -> bool:
        """Hand a held job back to the queue (pending, unlocked, no lease) with `values`."""
        return self._owned(
            job_id,
            worker_id,
            token,
            status=JobStatus.PENDING.value,
            locked_by=None,
            lease_expires_at=None,
            **values,
        )

    def add_asset(self, worker_id: str, token: int | None, row: Asset) -> AssetWrite:
        """Record a stored file of a job this worker holds (fenced like every worker write)."""
        return add_assets(self.Session, worker_id, token, [row]).of(row)

    def add_assets(self, worker_id: str, token: int | None, rows: list[Asset]) -> AssetsWritten:
        """Record files of one job this worker holds, in one fenced transaction."""
        return add_assets(self.Session, worker_id, token, rows)

    def rescue_expired(
        self, max_attempts: int, backoff_base: float = 5.0, now: datetime | None = None
    ) -> RescueResult:
        """Requeue running jobs whose lease ran out (a dead worker); fail them after the max."""
        now = now or utcnow()
        result = RescueResult()
        with self.Session() as s:
            expired = s.execute(
                select(ScrapeJob.id, ScrapeJob.attempts, ScrapeJob.locked_by).where(
                    *lease_expired(now)
                )
            ).all()
        guard = lease_expired(now)
        for job_id, attempts, worker in expired:
            lost = f"worker {worker} lost its lease (attempt {attempts} of {max_attempts})"
            if attempts >= max_attempts:
                values: dict[str, Any] = dict(
                    status=JobStatus.FAILED.value, error=lost, finished_at=now, message="failed"
                )
                bucket = result.failed
            else:
                delay = timedelta(seconds=backoff_seconds(attempts, backoff_base))
                values = dict(
                    status=JobStatus.PENDING.value,
                    run_after=now + delay,
                    message=f"requeued: {lost}",
                )
                bucket = result.requeued
            if self._guarded(job_id, guard, locked_by=None, lease_expires_at=None, **values):
                bucket.append(job_id)
        return result

    # -- helpers -----------------------------------------------------------------------------

    def _require(self, job_id: str) -> JobRecord:
        record = self.get(job_id)
        if record is None:
            raise JobNotFound(job_id)
        return record

    def _finish(
        self,
        job_id: str,
        worker_id: str,
        token: int | None,
        status: JobStatus,
        assets: Sequence[Asset] = (),
        then: NextClaim | None = None,
        **values: Any,
    ) -> bool:
        return self._owned(
            job_id,
            worker_id,
            token,
            assets=assets,
            then=then,
            status=status.value,
            lease_expires_at=None,
            finished_at=utcnow(),
            **values,
        )

    def _owned(
        self,
        job_id: str,
        worker_id: str,
        token: int | None,
        assets: Sequence[Asset] = (),
        then: NextClaim | None = None,
        **values: Any,
    ) -> bool:
        """A worker's write to its own job; waits out a lost connection (the CAS makes a
        repeated write harmless: once the job left this worker, it matches no row)."""
        values.setdefault("updated_at", utcnow())
        stmt, params = _fenced(job_id, worker_id, token, values)
        written = retry_transient(
            lambda: self._write(job_id, stmt, params, values, assets, then), f"job {job_id}"
        )
        if not written:
            with log_context(job_id=job_id, worker=worker_id):
                log.warning(
                    "write refused: job %s is no longer held by %s (lease token %s)",
                    job_id,
                    worker_id,
                    token,
                )
        return written

    def _guarded(self, job_id: str, guard: list[ColumnElement[bool]], **values: Any) -> bool:
        """Compare-and-set: update the row only while `guard` holds; True if it did."""
        values.setdefault("updated_at", utcnow())
        return self._write(job_id, _update(job_id, guard, values), {}, values)

    def _write(
        self,
        job_id: str,
        stmt: Update,
        params: dict[str, Any],
        values: dict[str, Any],
        assets: Sequence[Asset] = (),
        then: NextClaim | None = None,
    ) -> bool:
        """Run a guarded update of one job (`values` set, bound by `params`); True if it
        changed the row. The `assets` rows are inserted in the same transaction only if it
        did (the update's row lock fences them as `add_assets`' touch does); `then` claims
        the next job in it (on PostgreSQL all of it one autocommitted statement:
        `scraper.jobs.chained`)."""

        def write() -> bool:
            if then is not None:
                then.job = None  # a try that does not commit claims nothing
            if then is not None and chained.usable(self.Session, params, assets):  # one statement
                claim = _claim_params(then.worker_id, then.lease_seconds, utcnow())
                changed, then.job = chained.complete_and_claim(self.Session, params, assets, claim)
                return changed
            with self.Session() as s, s.begin():
                added = [fresh_copy(row) for row in assets]
                changed = rollup.tracked_update(s, job_id, stmt, values, added, params) == 1
                if changed:
                    insert_assets(s, added)
                claimed = _claim_in(s, then.worker_id, then.lease_seconds) if then else None
            if then is not None:
                then.job = claimed
            return changed

        return retry_deadlock(write)


def _update(job_id: str, guard: list[ColumnElement[bool]], values: dict[str, Any]) -> Update:
    return (
        update(ScrapeJob)
        .where(ScrapeJob.id == job_id, *guard)
        .values(**values)
        .execution_options(synchronize_session=False)  # nothing loaded to sync
    )


def _fenced(
    job_id: str, worker_id: str, token: int | None, values: dict[str, Any]
) -> tuple[Update, dict[str, Any]]:
    """A worker's write to its job and its parameters: built once per set of columns, the
    values bound (every job's completing write), unless one is an SQL expression."""
    if any(isinstance(v, ClauseElement) for v in values.values()):
        return _update(job_id, held_by(worker_id, token), values), {}
    params = {f"set_{k}": v for k, v in values.items()}
    params.update(fence_job=job_id, fence_worker=worker_id)
    if token is not None:
        params["fence_token"] = token
    return _fenced_statement(tuple(sorted(values)), token is not None), params


@functools.cache
def _fenced_statement(columns: tuple[str, ...], token: bool) -> Update:
    table = ScrapeJob.__table__.c
    guard = held_by(bindparam("fence_worker"), bindparam("fence_token") if token else None)
    values = {c: bindparam(f"set_{c}", type_=table[c].type) for c in columns}
    return _update(bindparam("fence_job"), guard, values)  # type: ignore[arg-type]


def _claim_in(s: Session, worker_id: str, lease_seconds: float) -> JobRecord | None:
    """`JobStore.claim` in the session's transaction (a claim's own, or a completing write's).

    One statement on PostgreSQL and SQLite (SQLite has no SKIP LOCKED: one writer); MariaDB
    has no `UPDATE … RETURNING`, so it reads the row it just locked.
    """
    now = utcnow()
    dialect = s.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        params = _claim_params(worker_id, lease_seconds, now)
        row = s.connection().execute(_claim_statement(dialect), params).first()
        return JobRecord.from_row(row) if row is not None else None
    job_id = s.scalar(_claim_candidate(now).with_for_update(skip_locked=True))
    if job_id is None:
        return None
    values = claim_values(worker_id, lease_seconds, now)
    s.execute(update(ScrapeJob).where(ScrapeJob.id == job_id).values(**values))
    # Locked by this transaction: the row and its lease token are ours.
    found = s.execute(select(*ScrapeJob.__table__.columns).where(ScrapeJob.id == job_id)).first()
    return JobRecord.from_row(found) if found is not None else None
