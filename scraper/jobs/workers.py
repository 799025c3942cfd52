"""Who works: the `worker_heartbeats` rows as read, and the workers page's data (each
worker's heartbeat, state and the jobs it holds).

`last_error` came with migration 0005: on a database that lacks it (not yet migrated, auto-heal
off) heartbeats are written and read without it rather than not at all.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import Table, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from scraper.db import is_transient
from scraper.models import JobStatus, ScrapeJob, WorkerHeartbeat, utcnow

T = TypeVar("T")
HB: Table = WorkerHeartbeat.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class WorkerInfo:
    id: str
    hostname: str
    pid: int
    state: str
    current_jobs: int
    jobs_done: int
    started_at: datetime
    last_seen_at: datetime
    last_error: str | None = None


def with_or_without_last_error(work: Callable[[bool], T]) -> T:
    """`work(True)`; if the database refuses it (no last_error column yet), `work(False)`."""
    try:
        return work(True)
    except DBAPIError as exc:
        if is_transient(exc):
            raise
        return work(False)


def list_workers(session_factory: sessionmaker[Session]) -> list[WorkerInfo]:
    """Every worker that ever beat, most recent first."""

    def read(with_error: bool) -> list[WorkerInfo]:
        columns = [c for c in HB.columns if with_error or c.name != "last_error"]
        with session_factory() as s:
            rows = s.execute(select(*columns).order_by(HB.c.last_seen_at.desc()))
            return [
                WorkerInfo(
                    id=r.id,
                    hostname=r.hostname,
                    pid=r.pid,
                    state=r.state,
                    current_jobs=r.current_jobs,
                    jobs_done=r.jobs_done,
                    started_at=r.started_at,
                    last_seen_at=r.last_seen_at,
                    last_error=r._mapping.get("last_error"),
                )
                for r in rows
            ]

    return with_or_without_last_error(read)


@dataclass(frozen=True)
class WorkerView:
    """One worker as the workers page shows it; `state` is busy, idle or stale."""

    worker: str
    host: str
    pid: int
    started_at: datetime
    last_heartbeat_at: datetime
    jobs: list[str]
    state: str
    jobs_done: int
    last_error: str | None = None


def worker_views(
    session_factory: sessionmaker[Session], stale_after: float, now: datetime | None = None
) -> list[WorkerView]:
    """Every worker seen in the last day, newest heartbeat first; stopped ones count as stale."""
    now = now or utcnow()
    held = _held_jobs(session_factory)
    views = []
    for w in list_workers(session_factory):
        age = (now - w.last_seen_at).total_seconds()
        if age > timedelta(days=1).total_seconds():
            continue
        jobs = held.get(w.id, [])
        stale = age > stale_after or w.state == "stopped"
        state = "stale" if stale else ("busy" if jobs or w.current_jobs else "idle")
        views.append(
            WorkerView(
                w.id, w.hostname, w.pid, w.started_at, w.last_seen_at, jobs, state, w.jobs_done,
                w.last_error,
            )
        )  # fmt: skip
    return views


def _held_jobs(session_factory: sessionmaker[Session]) -> dict[str, list[str]]:
    with session_factory() as s:
        rows = s.execute(
            select(ScrapeJob.locked_by, ScrapeJob.id).where(
                ScrapeJob.status == JobStatus.RUNNING.value, ScrapeJob.locked_by.is_not(None)
            )
        )
        held: dict[str, list[str]] = defaultdict(list)
        for worker, job_id in rows:
            held[worker or ""].append(job_id)
        return held
