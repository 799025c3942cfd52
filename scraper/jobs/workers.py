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


def list_workers(
    session_factory: sessionmaker[Session], since: datetime | None = None
) -> list[WorkerInfo]:
    """Every worker that beat since `since` (None: ever), most recent first; `since` reads a
    range of the `last_seen_at` index, not months of restarted workers' rows."""

    def read(with_error: bool) -> list[WorkerInfo]:
        columns = [c for c in HB.columns if with_error or c.name != "last_error"]
        stmt = select(*columns).order_by(HB.c.last_seen_at.desc())
        if since is not None:
            stmt = stmt.where(HB.c.last_seen_at >= since)
        with session_factory() as s:
            rows = s.execute(stmt)
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
    seen = list_workers(session_factory, since=now - timedelta(days=1))
    held = _held_jobs(session_factory, [w.id for w in seen])
    views = []
    for w in seen:
        age = (now - w.last_seen_at).total_seconds()
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


def _held_jobs(session_factory: sessionmaker[Session], workers: list[str]) -> dict[str, list[str]]:
    """The running jobs these workers hold: a range of the `locked_by` index per worker (not
    every running job: a history can hold thousands that no live worker has)."""
    held: dict[str, list[str]] = defaultdict(list)
    if not workers:
        return held
    with session_factory() as s:
        rows = s.execute(
            select(ScrapeJob.locked_by, ScrapeJob.id).where(
                ScrapeJob.locked_by.in_(workers), ScrapeJob.status == JobStatus.RUNNING.value
            )
        )
        for worker, job_id in rows:
            held[worker or ""].append(job_id)
        return held
