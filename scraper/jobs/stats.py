"""Activity over a time window: what `/api/stats` and the dashboard's charts show.

Read from the stats rollup (`scraper.rollup`): a few rows per five-minute slot however many
jobs the window holds, through the rollup's primary key (slot first) or its (user_id, slot)
index. Buckets are whole multiples of the slot on the clock (5 min, an hour, 6 h, from 1970
UTC); the last one holds now. `stats_from_rows` counts the same from the jobs and assets
themselves (index ranges over every row in the window): the reference the rollup is held to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session, sessionmaker

from scraper.models import Asset, JobStatus, ScrapeJob, StatsRollup, utcnow
from scraper.rollup import JOBS, SLOT, SLOT_START, slot_of
from scraper.rollup.buckets import bucket_number, bucket_of
from scraper.rollup.sources import SourceTotals, source_totals

__all__ = ["WINDOWS", "Bucket", "SourceTotals", "Stats", "compute_stats", "stats_from_rows"]

# window -> (length, bucket width); each width a whole number of rollup slots
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

    @classmethod
    def ending_after(cls, now: datetime, length: timedelta, width: timedelta) -> Window:
        """The window whose last bucket holds `now`, its buckets aligned on the clock."""
        end = SLOT_START + ((now - SLOT_START) // width + 1) * width
        return cls(end - length, end, width)

    def bucket(self, dialect: str, column: str) -> ColumnElement[Any]:
        return bucket_of(dialect, column, self.start, self.width)

    def empty(self) -> list[Bucket]:
        return [Bucket(self.start + i * self.width) for i in range(self.count)]

    @property
    def count(self) -> int:
        return (self.end - self.start) // self.width


def _span(window: str, now: datetime | None) -> Window:
    length, width = WINDOWS[window]
    return Window.ending_after(now or utcnow(), length, width)


def compute_stats(
    session_factory: sessionmaker[Session],
    window: str,
    user_id: int | None = None,
    now: datetime | None = None,
) -> Stats:
    """The window's buckets and per-source totals from the rollup; a user sees their own,
    an admin (None) everyone's."""
    span = _span(window, now)
    buckets = span.empty()
    first, last, per = slot_of(span.start), slot_of(span.end), span.width // SLOT
    owned = [] if user_id is None else [StatsRollup.user_id == user_id]
    r = StatsRollup
    number = (r.slot - first) // per
    sums = (func.sum(r.created), func.sum(r.completed), func.sum(r.failed))
    per_bucket = (
        select(number, *sums, func.sum(r.files), func.sum(r.bytes))
        .where(r.slot >= first, r.slot < last, r.source == JOBS, *owned)
        .group_by(number)
    )
    per_source = (
        select(r.source, *sums, func.sum(r.found), func.sum(r.stored))
        .where(r.slot >= first, r.source != JOBS, *owned)
        .group_by(r.source)
    )
    with session_factory() as s:
        for n, created, completed, failed, files, size in s.execute(per_bucket):
            bucket = buckets[int(n)]
            bucket.created, bucket.completed, bucket.failed = (
                int(created),
                int(completed),
                int(failed),
            )
            bucket.files, bucket.bytes = int(files), int(size)
        sources = {
            str(name): SourceTotals(int(found), int(stored), int(failed))
            for name, jobs, _, failed, found, stored in s.execute(per_source)
            if jobs  # a source no remaining job reports (all deleted) is not listed
        }
    sources = dict(sorted(sources.items()))
    return Stats(window, int(span.width.total_seconds()), buckets, sources)


def stats_from_rows(
    session_factory: sessionmaker[Session],
    window: str,
    user_id: int | None = None,
    now: datetime | None = None,
) -> Stats:
    """The same numbers counted from the jobs and assets themselves (grows with the rows)."""
    span = _span(window, now)
    buckets = span.empty()
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
    return Stats(window, int(span.width.total_seconds()), buckets, sources)


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
