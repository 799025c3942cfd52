"""How many jobs are in each state, for the dashboard's per-state counts.

Each state is a range of the (status, created_at) index (or (user_id, status, created_at)),
counted as a job list's `total` is (scraper.jobs.reads.counting): exact up to 10,000 and an
estimate beyond (the planner's; SQLite's from a sample), so a poll reads at most 10,001
entries per state however many jobs a long-lived table holds (a GROUP BY status read all of
them: 0.8 s at 1 M jobs on MariaDB). The `scraper_jobs_in_database` gauge counts the same way
(the total minus the other states read a whole index: the first `/metrics` took 393 ms at 1 M
on MariaDB). On PostgreSQL and MariaDB a state the planner puts well past the cap (its
statistics; MariaDB's index dives) is not counted at all: five capped counts of 10,001 entries
were still 105 ms a dashboard poll at 1 M on MariaDB.
"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from scraper.jobs.reads.counting import count_jobs
from scraper.models import JobStatus, ScrapeJob


def status_counts(
    session_factory: sessionmaker[Session], user_id: int | None = None
) -> dict[str, int]:
    """Jobs per status in the database (a user's own with `user_id`); every status present,
    each exact up to 10,000 and estimated beyond."""
    with session_factory() as s:
        return counts_in(s, user_id)


def counts_in(session: Session, user_id: int | None = None) -> dict[str, int]:
    """`status_counts` in an open session (the metrics snapshot's)."""
    return {status.value: count_of(session, status.value, user_id) for status in JobStatus}


def count_of(session: Session, status: str, user_id: int | None = None) -> int:
    """Jobs in one status (a user's own with `user_id`): exact up to 10,000, estimated beyond."""
    owned = [] if user_id is None else [ScrapeJob.user_id == user_id]
    return count_jobs(session, [ScrapeJob.status == status, *owned], estimate_first=True).count


def active_count(counts: dict[str, int]) -> int:
    """The jobs not yet finished: pending and running."""
    return counts.get(JobStatus.PENDING.value, 0) + counts.get(JobStatus.RUNNING.value, 0)
