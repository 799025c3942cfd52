"""Earlier attempts of a job: kept when it is retried, shown on the job page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from scraper.jobs.record import JobRecord
from scraper.models import JobAttempt


@dataclass(frozen=True)
class Attempt:
    """One finished run: when, by which worker, how it ended and why."""

    attempt: int
    status: str
    worker: str | None
    message: str | None
    error: str | None
    started_at: datetime | None
    finished_at: datetime | None


def record_attempt(session_factory: sessionmaker[Session], job: JobRecord) -> None:
    """Keep the job's run as it stood before a retry resets it."""
    with session_factory() as s, s.begin():
        s.add(
            JobAttempt(
                job_id=job.id,
                attempt=max(1, job.attempts),
                status=job.status,
                worker=job.locked_by or _worker_of(job.message),
                message=job.message,
                error=job.error,
                started_at=job.started_at,
                finished_at=job.finished_at,
            )
        )


def attempts_of(session_factory: sessionmaker[Session], job_id: str) -> list[Attempt]:
    """The job's earlier attempts, oldest first."""
    with session_factory() as s:
        rows = s.scalars(
            select(JobAttempt).where(JobAttempt.job_id == job_id).order_by(JobAttempt.id)
        )
        return [
            Attempt(r.attempt, r.status, r.worker, r.message, r.error, r.started_at, r.finished_at)
            for r in rows
        ]


def _worker_of(message: str | None) -> str | None:
    """A finished job keeps no lock; its claim message named the worker."""
    prefix = "claimed by "
    return message[len(prefix) :] if message and message.startswith(prefix) else None
