"""The `worker_heartbeats` table: which workers are alive, and what they hold."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from scraper.models import WorkerHeartbeat, utcnow


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


def beat(
    session_factory: sessionmaker[Session],
    worker_id: str,
    current_jobs: int,
    jobs_done: int,
    state: str = "running",
) -> None:
    """Insert or refresh this worker's row."""
    with session_factory() as s, s.begin():
        row = s.get(WorkerHeartbeat, worker_id)
        if row is None:
            row = WorkerHeartbeat(id=worker_id, hostname=socket.gethostname(), pid=os.getpid())
            s.add(row)
        row.last_seen_at = utcnow()
        row.current_jobs = current_jobs
        row.jobs_done = jobs_done
        row.state = state


def list_workers(session_factory: sessionmaker[Session]) -> list[WorkerInfo]:
    """Every worker that ever beat, most recent first."""
    with session_factory() as s:
        rows = s.scalars(select(WorkerHeartbeat).order_by(WorkerHeartbeat.last_seen_at.desc()))
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
            )
            for r in rows
        ]
