"""The cheap, indexed reads behind the scrape-time gauges and the queue/worker health checks.

Each statement is built by its own function so a test can EXPLAIN exactly what runs:
counts per status (`scraper.jobs.tally`: exact up to 10,000 each, estimated beyond) and the
oldest pending job use `ix_scrape_jobs_status_created_at`, expired
leases use `ix_scrape_jobs_status_lease_expires_at`, recent workers
`ix_worker_heartbeats_last_seen_at`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session, sessionmaker

from scraper.jobs.tally import count_of, counts_in
from scraper.models import JobStatus, ScrapeJob, WorkerHeartbeat, utcnow

WORKER_WINDOW_SECONDS = 3600.0
MAX_WORKERS = 200

Read = Literal["counts", "pending", "oldest", "expired", "workers"]
"""One part of a snapshot: every status counted, the pending ones alone, the oldest pending
job, the expired leases, the recent workers."""
EVERY_READ: frozenset[Read] = frozenset({"counts", "oldest", "expired", "workers"})


@dataclass(frozen=True)
class WorkerSeen:
    """A worker's id, its last heartbeat and its state."""

    id: str
    last_seen_at: datetime
    state: str


@dataclass(frozen=True)
class DatabaseSnapshot:
    """What the database says about jobs and workers at `taken_at`."""

    taken_at: datetime
    jobs_by_status: dict[str, int] = field(default_factory=dict)
    oldest_pending_at: datetime | None = None
    expired_leases: int = 0
    workers: list[WorkerSeen] = field(default_factory=list)

    @property
    def oldest_pending_seconds(self) -> float:
        """Age of the oldest pending job, 0 when the queue is empty."""
        if self.oldest_pending_at is None:
            return 0.0
        return max(0.0, (self.taken_at - self.oldest_pending_at).total_seconds())

    def status_counts(self) -> dict[str, int]:
        """Every known status (0 when none) plus any unexpected status found."""
        counts = {status.value: 0 for status in JobStatus}
        counts.update(self.jobs_by_status)
        return counts


def oldest_pending_stmt() -> Select[datetime]:
    """The oldest pending job's creation time: one seek into (status, created_at)."""
    return select(func.min(ScrapeJob.created_at)).where(ScrapeJob.status == JobStatus.PENDING.value)


def lease_expired(now: datetime) -> list[ColumnElement[bool]]:
    """Running jobs whose lease ran out (a dead worker): a range of (status, lease_expires_at)."""
    return [ScrapeJob.status == JobStatus.RUNNING.value, ScrapeJob.lease_expires_at < now]


def expired_leases_stmt(now: datetime) -> Select[int]:
    """How many running jobs hold an expired lease."""
    return select(func.count()).select_from(ScrapeJob).where(*lease_expired(now))


def recent_workers_stmt(since: datetime) -> Select[str, datetime, str]:
    """Workers that beat since `since`, newest first, bounded so labels stay few."""
    return (
        select(WorkerHeartbeat.id, WorkerHeartbeat.last_seen_at, WorkerHeartbeat.state)
        .where(WorkerHeartbeat.last_seen_at >= since)
        .order_by(WorkerHeartbeat.last_seen_at.desc())
        .limit(MAX_WORKERS)
    )


def read_snapshot(
    session_factory: sessionmaker[Session],
    now: datetime | None = None,
    worker_window: float = WORKER_WINDOW_SECONDS,
    reads: Collection[Read] = EVERY_READ,
) -> DatabaseSnapshot:
    """Run the reads asked for in one short session; database errors propagate.

    A health check asks only for what it judges (`reads`), so `ops doctor` does not pay for
    the others once per check. Each status is counted as the dashboard counts it, exact up
    to 10,000 and estimated beyond (at most 10,001 index entries each), so a scrape or a
    check costs the same however long the history or the backlog.
    """
    now = now or utcnow()
    since = now - timedelta(seconds=worker_window)
    counts: dict[str, int] = {}
    oldest: datetime | None = None
    expired = 0
    workers: list[WorkerSeen] = []
    with session_factory() as s:
        if "counts" in reads:
            counts = counts_in(s)  # each exact up to 10,000, estimated beyond
        elif "pending" in reads:
            pending = JobStatus.PENDING.value
            counts = {pending: count_of(s, pending)}
        if "oldest" in reads:
            oldest = s.scalar(oldest_pending_stmt())
        if "expired" in reads:
            expired = int(s.scalar(expired_leases_stmt(now)) or 0)
        if "workers" in reads:
            rows = s.execute(recent_workers_stmt(since)).all()
            workers = [WorkerSeen(id_, seen, state) for id_, seen, state in rows]
    return DatabaseSnapshot(
        taken_at=now,
        jobs_by_status=counts,
        oldest_pending_at=oldest,
        expired_leases=expired,
        workers=workers,
    )
