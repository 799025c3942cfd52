"""The `worker_heartbeats` table: which workers are alive, and what they hold.

`last_error` came with migration 0005: on a database that lacks it (not yet migrated, auto-heal
off) heartbeats are written and read without it rather than not at all.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Table, insert, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from scraper.db import is_transient
from scraper.models import WorkerHeartbeat, utcnow

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


def _with_or_without_last_error(work: Callable[[bool], T]) -> T:
    """`work(True)`; if the database refuses it (no last_error column yet), `work(False)`."""
    try:
        return work(True)
    except DBAPIError as exc:
        if is_transient(exc):
            raise
        return work(False)


def beat(
    session_factory: sessionmaker[Session],
    worker_id: str,
    current_jobs: int,
    jobs_done: int,
    state: str = "running",
    last_error: str | None = None,
) -> None:
    """Insert or refresh this worker's row."""

    def write(with_error: bool) -> None:
        values: dict[str, Any] = dict(
            last_seen_at=utcnow(), current_jobs=current_jobs, jobs_done=jobs_done, state=state
        )
        if with_error:
            values["last_error"] = last_error
        with session_factory() as s, s.begin():
            found = s.execute(update(HB).where(HB.c.id == worker_id).values(**values))
            if found.rowcount == 0:  # type: ignore[attr-defined]
                s.execute(
                    insert(HB).values(
                        id=worker_id,
                        hostname=socket.gethostname(),
                        pid=os.getpid(),
                        started_at=utcnow(),
                        **values,
                    )
                )

    _with_or_without_last_error(write)


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

    return _with_or_without_last_error(read)
