"""The workers page's data: each worker's heartbeat, state and the jobs it holds."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from scraper.heartbeats import list_workers
from scraper.models import JobStatus, ScrapeJob, utcnow


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
