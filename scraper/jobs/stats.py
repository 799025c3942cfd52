"""Activity over a time window, from the database: what `/api/stats` and the charts show."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session, sessionmaker

from scraper.models import Asset, JobStatus, ScrapeJob, utcnow

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
class SourceTotals:
    """Items one source found, stored, and the jobs in which it failed."""

    found: int = 0
    stored: int = 0
    failed: int = 0


@dataclass
class Stats:
    window: str
    bucket_seconds: int
    buckets: list[Bucket]
    sources: dict[str, SourceTotals] = field(default_factory=dict)


def compute_stats(
    session_factory: sessionmaker[Session],
    window: str,
    user_id: int | None = None,
    now: datetime | None = None,
) -> Stats:
    """Bucket the window's jobs and assets; a user sees their own, an admin (None) all."""
    length, width = WINDOWS[window]
    end = now or utcnow()
    start = end - length
    buckets = [Bucket(start + i * width) for i in range(int(length / width))]

    def slot(at: datetime | None) -> Bucket | None:
        if at is None or at < start or at >= end:
            return None
        return buckets[int((at - start) / width)]

    with session_factory() as s:
        _count_jobs(s, start, user_id, slot)
        _count_assets(s, start, user_id, slot)
        sources = _sources(s, start, user_id)
    return Stats(window, int(width.total_seconds()), buckets, sources)


def _owned(user_id: int | None) -> list[ColumnElement[bool]]:
    return [] if user_id is None else [ScrapeJob.user_id == user_id]


def _count_jobs(s: Session, start: datetime, user_id: int | None, slot: Any) -> None:
    rows = s.execute(
        select(ScrapeJob.created_at, ScrapeJob.finished_at, ScrapeJob.status).where(
            or_(ScrapeJob.created_at >= start, ScrapeJob.finished_at >= start), *_owned(user_id)
        )
    )
    for created_at, finished_at, status in rows:
        if (bucket := slot(created_at)) is not None:
            bucket.created += 1
        if (bucket := slot(finished_at)) is not None:
            if status == JobStatus.COMPLETED.value:
                bucket.completed += 1
            elif status == JobStatus.FAILED.value:
                bucket.failed += 1


def _count_assets(s: Session, start: datetime, user_id: int | None, slot: Any) -> None:
    query = select(Asset.created_at, Asset.size_bytes).where(Asset.created_at >= start)
    if user_id is not None:
        query = query.join(ScrapeJob, ScrapeJob.id == Asset.job_id).where(*_owned(user_id))
    for created_at, size in s.execute(query):
        if (bucket := slot(created_at)) is not None:
            bucket.files += 1
            bucket.bytes += size or 0


def _sources(s: Session, start: datetime, user_id: int | None) -> dict[str, SourceTotals]:
    """Per source, from each job's `result` (written as it runs)."""
    totals: dict[str, SourceTotals] = defaultdict(SourceTotals)
    rows = s.scalars(
        select(ScrapeJob.result).where(
            ScrapeJob.created_at >= start, ScrapeJob.result.is_not(None), *_owned(user_id)
        )
    )
    for result in rows:
        for name, source in ((result or {}).get("sources") or {}).items():
            one = totals[name]
            one.found += int(source.get("found") or 0)
            one.stored += int(source.get("stored") or 0)
            one.failed += 1 if source.get("error") else 0
    return dict(sorted(totals.items()))
