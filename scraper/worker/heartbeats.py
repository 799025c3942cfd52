"""This worker's row in `worker_heartbeats`: written every few seconds while it runs.

The rows are read by `scraper.jobs.workers` (the workers page, health checks, the trace).
"""

from __future__ import annotations

import os
import socket
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.orm import Session, sessionmaker

from scraper.jobs.workers import HB, with_or_without_last_error
from scraper.models import utcnow


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

    with_or_without_last_error(write)
