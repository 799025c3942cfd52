"""The wake-up call a queued job sends to idle workers (PostgreSQL's NOTIFY).

Sent inside the transaction that makes a job runnable, so a listener hears it when the row
is committed and never before; nothing is sent on MariaDB or SQLite (workers poll there).
A lost notification costs at most one poll interval: polling stays the guarantee.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

CHANNEL = "scraper_jobs"


def notify_queued(session: Session) -> None:
    """Tell listening workers, at commit, that a job is waiting (PostgreSQL only)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_notify(CHANNEL, "")))
