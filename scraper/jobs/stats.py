"""Activity over a time window, from the database: what `/api/stats` and the charts show.

Every number is counted by the database over an index range, grouped by bucket number
(`reads.buckets`): jobs created per bucket over `(created_at, id)`, completed and failed over
`(finished_at, status)`, files and bytes over assets' `(created_at, size_bytes)`; per-source
totals are summed from the jobs' JSON in SQL (`reads.sources`). Python only fills the buckets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session, sessionmaker

from scraper.jobs.reads.buckets import bucket_number, bucket_of
from scraper.jobs.reads.sources import SourceTotals, source_totals
from scraper.models import Asset, JobStatus, ScrapeJob, utcnow

__all__ = ["WINDOWS", "Bucket", "SourceTotals", "Stats", "compute_stats"]

# window -> (length, bucket width)
WINDOWS: dict[str, tuple[timedelta, timedelta]] = {
    "1h": (timedelta(hours=1), timedelta(minutes=5)),
    "24h": (timedelta(hours=24), timedelta(hours=1)),
    "7d": (timedelta(days=7), timedelta(hours=6)),
}


@dataclass
class Bucket:
    """One time slice: jobs created, completed and failed in it; files and bytes stored."""

    start: datetime
    created: int = 0
    completed: int = 0
    failed: int = 0
    files: int = 0
    bytes: int = 0


@dataclass
class Stats:
    window: str
    bucket_seconds: int
    buckets: list[Bucket]
    sources: dict[str, SourceTotals] = field(default_factory=dict)


@dataclass(frozen=True)
class Window:
    """The half-open interval [start, end) cut into buckets of `width`."""

    start: datetime
    end: datetime
    width: timedelta

    def bucket(self, dialect: str, column: str) -> ColumnElement[Any]:
        return bucket_of(dialect, column, self.start, self.width)


def compute_stats(
    session_factory: sessionmaker[Session],
    window: str,
    user_id: int | None = None,
    now: datetime | None = None,
) -> Stats:
    """Bucket the window's jobs and assets; a user sees their own, an admin (None) all."""
    length, width = WINDOWS[window]
    end = now or utcnow()
    span = Window(end - length, end, width)
    buckets = [Bucket(span.start + i * width) for i in range(int(length / width))]
    with session_factory() as s:
        dialect = s.get_bind().dialect.name
        for n, created in s.execute(created_stmt(dialect, span, user_id)):
            _at(buckets, span, n).created += int(created)
        for n, status, count in s.execute(finished_stmt(dialect, span, user_id)):
            bucket = _at(buckets, span, n)
            if status == JobStatus.COMPLETED.value:
                bucket.completed += int(count)
            else:
                bucket.failed += int(count)
        for n, files, size in s.execute(assets_stmt(dialect, span, user_id)):
            _at(buckets, span, n).files += int(files)
            _at(buckets, span, n).bytes += int(size or 0)
        sources = source_totals(s, span.start, user_id)
    return Stats(window, int(width.total_seconds()), buckets, sources)


def _at(buckets: list[Bucket], span: Window, value: Any) -> Bucket:
    """The bucket the database computed (clamped: the WHERE already bounds it)."""
    number = bucket_number(value, span.start, span.width)
    return buckets[min(max(number, 0), len(buckets) - 1)]


def _owned(user_id: int | None) -> list[ColumnElement[bool]]:
    return [] if user_id is None else [ScrapeJob.user_id == user_id]


def created_stmt(dialect: str, span: Window, user_id: int | None) -> Select[Any, int]:
    """Jobs created per bucket: a range of (created_at, id), or (user_id, created_at)."""
    bucket = span.bucket(dialect, "scrape_jobs.created_at")
    return (
        select(bucket, func.count())
        .where(ScrapeJob.created_at >= span.start, ScrapeJob.created_at < span.end)
        .where(*_owned(user_id))
        .group_by(bucket)
    )


def finished_stmt(dialect: str, span: Window, user_id: int | None) -> Select[Any, str, int]:
    """Jobs completed or failed per bucket: a range of (finished_at, status)."""
    bucket = span.bucket(dialect, "scrape_jobs.finished_at")
    ended = [JobStatus.COMPLETED.value, JobStatus.FAILED.value]
    return (
        select(bucket, ScrapeJob.status, func.count())
        .where(ScrapeJob.finished_at >= span.start, ScrapeJob.finished_at < span.end)
        .where(ScrapeJob.status.in_(ended), *_owned(user_id))
        .group_by(bucket, ScrapeJob.status)
    )


def assets_stmt(dialect: str, span: Window, user_id: int | None) -> Select[Any, int, int]:
    """Files and bytes stored per bucket: a range of assets' (created_at, size_bytes)."""
    bucket = span.bucket(dialect, "assets.created_at")
    stmt = (
        select(bucket, func.count(), func.sum(Asset.size_bytes))
        .where(Asset.created_at >= span.start, Asset.created_at < span.end)
        .group_by(bucket)
    )
    if user_id is not None:
        stmt = stmt.join(ScrapeJob, ScrapeJob.id == Asset.job_id).where(*_owned(user_id))
    return stmt
