"""Shared helpers of the schedule tests: a user, a schedule at a fixed time, its jobs."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from scraper import schedules
from scraper.accounts import create_user
from scraper.models import ScrapeJob

T0 = datetime(2026, 6, 1, 10, 7, tzinfo=UTC)


def at(hh: int, mm: int = 0, ss: int = 0, day: int = 1) -> datetime:
    return datetime(2026, 6, day, hh, mm, ss, tzinfo=UTC)


def owner(session_factory: sessionmaker[Session], name: str = "alice") -> int:
    return create_user(session_factory, name, "correct horse battery").id


def hourly(
    session_factory: sessionmaker[Session], user_id: int | None, query: str = "cats", **kw: object
) -> int:
    """An hourly selftest schedule created at T0 (its first tick: 11:00)."""
    spec = schedules.ScheduleSpec(query=query, cron="0 * * * *", max_content=2, **kw)  # type: ignore[arg-type]
    return schedules.create(session_factory, spec, user_id, now=T0).schedule_id


def jobs_of(session_factory: sessionmaker[Session], schedule_id: int) -> list[ScrapeJob]:
    with session_factory() as s:
        query = select(ScrapeJob).where(ScrapeJob.schedule_id == schedule_id)
        return list(s.scalars(query.order_by(ScrapeJob.created_at)))
