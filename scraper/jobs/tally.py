"""How many jobs are in each state, for the dashboard's per-state counts."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from scraper.models import JobStatus, ScrapeJob


def status_counts(
    session_factory: sessionmaker[Session], user_id: int | None = None
) -> dict[str, int]:
    """Jobs per status in the database (a user's own with `user_id`); every status present."""
    stmt = select(ScrapeJob.status, func.count()).group_by(ScrapeJob.status)
    if user_id is not None:
        stmt = stmt.where(ScrapeJob.user_id == user_id)
    counts = {status.value: 0 for status in JobStatus}
    with session_factory() as s:
        for status, n in s.execute(stmt):
            if status in counts:
                counts[status] = int(n)
    return counts


def active_count(counts: dict[str, int]) -> int:
    """The jobs not yet finished: pending and running."""
    return counts.get(JobStatus.PENDING.value, 0) + counts.get(JobStatus.RUNNING.value, 0)
