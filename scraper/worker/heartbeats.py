"""This worker's row in `worker_heartbeats`: written every few seconds while it runs.

The rows are read by `scraper.jobs.workers` (the workers page, health checks, the trace).
"""

from __future__ import annotations

import os
import socket
from typing import Any

from sqlalchemy import Insert
from sqlalchemy.orm import Session, sessionmaker

from scraper.db import retry_transient
from scraper.jobs.workers import HB, with_or_without_last_error
from scraper.models import utcnow

BEAT_BUDGET = 5.0  # seconds a beat retries a lost connection or a deadlock; the next one follows


def upsert(dialect: str, row: dict[str, Any], refreshed: dict[str, Any]) -> Insert:
    """Insert `row`, or set `refreshed` on the row with its id: one statement, so two workers
    beating at once never interleave an UPDATE and an INSERT (on MariaDB, whose gap locks made
    that pair deadlock under four processes)."""
    if dialect in ("mysql", "mariadb"):
        from sqlalchemy.dialects import mysql  # each dialect's module loads on first use

        return mysql.insert(HB).values(**row).on_duplicate_key_update(**refreshed)
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        pg = postgresql.insert(HB).values(**row)
        return pg.on_conflict_do_update(index_elements=[HB.c.id], set_=refreshed)
    if dialect == "sqlite":
        from sqlalchemy.dialects import sqlite

        lite = sqlite.insert(HB).values(**row)
        return lite.on_conflict_do_update(index_elements=[HB.c.id], set_=refreshed)
    raise NotImplementedError(f"no heartbeat upsert for {dialect}")  # pragma: no cover


def beat(
    session_factory: sessionmaker[Session],
    worker_id: str,
    current_jobs: int,
    jobs_done: int,
    state: str = "running",
    last_error: str | None = None,
) -> None:
    """Insert or refresh this worker's row (one upsert; a deadlock or a lost connection is
    retried for a few seconds)."""

    def write(with_error: bool) -> None:
        values: dict[str, Any] = dict(
            last_seen_at=utcnow(), current_jobs=current_jobs, jobs_done=jobs_done, state=state
        )
        if with_error:
            values["last_error"] = last_error
        row = dict(
            id=worker_id, hostname=socket.gethostname(), pid=os.getpid(), started_at=utcnow()
        )
        with session_factory() as s, s.begin():
            s.execute(upsert(s.get_bind().dialect.name, row | values, values))

    with_or_without_last_error(
        lambda with_error: retry_transient(
            lambda: write(with_error), f"heartbeat of {worker_id}", BEAT_BUDGET
        )
    )
