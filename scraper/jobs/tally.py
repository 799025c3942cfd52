"""How many jobs are in each state, for the dashboard's per-state counts.

SQLite: read from `scrape_job_counts` (scraper.statecounts), one row per user and state kept
by triggers: exact, a handful of rows however many jobs (the capped counts below reached
10,001 index entries per state between 100k and 1M jobs, the dashboard 1.7x slower).

PostgreSQL and MariaDB: each state is a range of the (status, created_at) index (or (user_id,
status, created_at)), counted as a job list's `total` is (scraper.jobs.reads.counting): exact
up to 10,000 and an estimate beyond (the planner's), so a poll reads at most 10,001 entries
per state however many jobs a long-lived table holds (a GROUP BY status read all of them: 0.8 s
at 1 M jobs on MariaDB). The `scraper_jobs_in_database` gauge counts the same way (the total
minus the other states read a whole index: the first `/metrics` took 393 ms at 1 M on
MariaDB). A state the planner puts well past the cap (its statistics; MariaDB's index dives)
is not counted at all: five capped counts of 10,001 entries were still 105 ms a dashboard poll
at 1 M on MariaDB. A maintained row per state would be one row every worker finishing a job
updates: a hot row on the databases that write concurrently.
"""

from __future__ import annotations

from sqlalchemy import Integer, String, column, func, select, table
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from scraper.jobs.reads.counting import count_jobs
from scraper.models import JobStatus, ScrapeJob
from scraper.statecounts import COUNTS_TABLE

KEPT = table(
    COUNTS_TABLE, column("user_id", Integer), column("status", String), column("jobs", Integer)
)


def status_counts(
    session_factory: sessionmaker[Session], user_id: int | None = None
) -> dict[str, int]:
    """Jobs per status in the database (a user's own with `user_id`); every status present,
    each exact up to 10,000 and estimated beyond (SQLite: exact)."""
    with session_factory() as s:
        return counts_in(s, user_id)


def counts_in(session: Session, user_id: int | None = None) -> dict[str, int]:
    """`status_counts` in an open session (the metrics snapshot's)."""
    kept = kept_counts(session, None, user_id)
    if kept is not None:
        return dict.fromkeys((status.value for status in JobStatus), 0) | kept
    return {status.value: count_of(session, status.value, user_id) for status in JobStatus}


def count_of(session: Session, status: str, user_id: int | None = None) -> int:
    """Jobs in one status (a user's own with `user_id`): exact up to 10,000, estimated beyond
    (SQLite: exact)."""
    kept = kept_counts(session, status, user_id)
    if kept is not None:
        return kept.get(status, 0)
    owned = [] if user_id is None else [ScrapeJob.user_id == user_id]
    return count_jobs(session, [ScrapeJob.status == status, *owned], estimate_first=True).count


def kept_total(session: Session, status: str | None, user_id: int | None) -> int | None:
    """SQLite: the jobs in `status` (any, when None) of `user_id` (anyone's, when None), exact,
    from `scrape_job_counts`; None elsewhere, or when the table is missing (a database not
    migrated yet: check-schema names it)."""
    kept = kept_counts(session, status, user_id)
    return None if kept is None else sum(kept.values())


def kept_counts(session: Session, status: str | None, user_id: int | None) -> dict[str, int] | None:
    """SQLite: jobs per status from `scrape_job_counts` (one status with `status`, one user's
    with `user_id`): a range of its primary key, or the whole table's few rows. None on
    the other databases, or without the table (SQLite: a failed SELECT leaves the
    transaction as it was)."""
    if session.get_bind().dialect.name != "sqlite":
        return None
    stmt = select(KEPT.c.status, func.sum(KEPT.c.jobs)).group_by(KEPT.c.status)
    if user_id is not None:
        stmt = stmt.where(KEPT.c.user_id == user_id)
    if status is not None:
        stmt = stmt.where(KEPT.c.status == status)
    try:
        return {str(found): int(n or 0) for found, n in session.execute(stmt)}
    except OperationalError:
        return None


def active_count(counts: dict[str, int]) -> int:
    """The jobs not yet finished: pending and running."""
    return counts.get(JobStatus.PENDING.value, 0) + counts.get(JobStatus.RUNNING.value, 0)
