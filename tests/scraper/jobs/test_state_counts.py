"""SQLite's per-state counts kept by triggers (scraper.statecounts, migration 0011): exact
through every kind of write, read from a handful of rows instead of the jobs, built on a live
database by the migration and repaired by migrate when a trigger goes missing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, delete, insert, text, update

from scraper.accounts import create_user
from scraper.config import Settings
from scraper.db import make_engine, make_sessionmaker
from scraper.jobs import JobFilter
from scraper.jobs.queries import read_snapshot
from scraper.jobs.reader import JobReader
from scraper.jobs.tally import count_of, status_counts
from scraper.migrations import alembic_config
from scraper.migrations.manage import check_schema, migrate
from scraper.models import Base, JobStatus, ScrapeJob, utcnow
from scraper.runtime import Runtime
from scraper.statecounts import COUNTS_TABLE
from tests.plugins.statements import statements_of


@pytest.fixture
def lite(sqlite_url: str, tmp_path: Path) -> Iterator[Runtime]:
    """A SQLite runtime with the models' tables (and their triggers) and three users."""
    runtime = Runtime(Settings(database_url=sqlite_url, data_dir=tmp_path, secret_key="x"))
    Base.metadata.create_all(runtime.engine)
    for name in ("ann", "bob", "cy"):
        create_user(runtime.Session, name, "a password")
    yield runtime
    runtime.close()


def _row(status: str, user_id: int | None) -> dict[str, Any]:
    now = utcnow()
    return {"id": str(uuid.uuid4()), "query": "q", "max_content": 1, "enabled_sources": [],
            "status": status, "user_id": user_id, "created_at": now, "updated_at": now}  # fmt: skip


def _fill(engine: Engine) -> list[str]:
    """Jobs of every state for users 1-3 and no user, in one INSERT ... (executemany)."""
    states = [s.value for s in JobStatus]
    rows = [_row(states[n % len(states)], [1, 2, 3, None][n % 4]) for n in range(60)]
    with engine.begin() as conn:
        conn.execute(insert(ScrapeJob), rows)
    return [row["id"] for row in rows]


def _truth(engine: Engine, user_id: int | None = None) -> dict[str, int]:
    """Every state's jobs, counted from the jobs themselves."""
    owned = "" if user_id is None else f"WHERE user_id = {user_id}"
    with engine.connect() as conn:
        rows = conn.execute(text(f"SELECT status, count(*) FROM scrape_jobs {owned} GROUP BY 1"))
        found = {status: n for status, n in rows}
    return {s.value: int(found.get(s.value, 0)) for s in JobStatus}


def _all_agree(runtime: Runtime) -> None:
    for user in (None, 1, 2, 3):
        assert status_counts(runtime.Session, user) == _truth(runtime.engine, user), user


def test_the_counts_stay_exact_through_inserts_updates_deletes_and_the_job_store(
    lite: Runtime,
) -> None:
    """Each trigger: a new job, a state change, a change of owner (to and from none), a job
    deleted, alone and in bulk; and the store's own cancel and retry."""
    ids = _fill(lite.engine)
    _all_agree(lite)
    with lite.engine.begin() as conn:
        conn.execute(update(ScrapeJob).where(ScrapeJob.id == ids[0]).values(status="failed"))
        conn.execute(update(ScrapeJob).where(ScrapeJob.id == ids[1]).values(user_id=None))
        conn.execute(update(ScrapeJob).where(ScrapeJob.id == ids[3]).values(user_id=2))
        conn.execute(update(ScrapeJob).where(ScrapeJob.id == ids[5]).values(progress=7))
        conn.execute(
            update(ScrapeJob).where(ScrapeJob.status == "running").values(status="pending")
        )
        conn.execute(delete(ScrapeJob).where(ScrapeJob.id == ids[2]))
        conn.execute(delete(ScrapeJob).where(ScrapeJob.user_id == 3))
    _all_agree(lite)
    pending = next(j for j in lite.jobs.reader.list_page(JobFilter(status="pending"))[0])
    lite.jobs.cancel(pending.id)
    lite.jobs.retry(pending.id)
    lite.jobs.cancel(pending.id)
    _all_agree(lite)
    with lite.Session() as s:
        assert count_of(s, "cancelled") == _truth(lite.engine)["cancelled"]


def test_counts_and_a_status_listings_total_read_the_kept_rows_not_the_jobs(
    lite: Runtime,
) -> None:
    """The dashboard's counts, the metrics snapshot's (besides its expired leases) and
    `/api/jobs?status=failed`'s total read scrape_job_counts (a range of its primary key for
    one user), exact past 10,000 (the capped count and its sample read 20,000 rows a state at
    1 M jobs)."""
    ids = _fill(lite.engine)
    with lite.engine.begin() as conn:  # past what a capped count would read: 12,000 failed
        conn.execute(
            text(
                "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 12000) "
                "INSERT INTO scrape_jobs (id, query, max_content, enabled_sources, status, "
                "created_at, updated_at) SELECT 'f' || x, 'q', 1, '[]', 'failed', "
                "'2026-12-01 00:00:00', '2026-12-01 00:00:00' FROM n"
            )
        )
    reader = lite.jobs.reader
    page = reader.page(JobFilter(status="failed"), 50)
    assert (page.total, page.estimated) == (_truth(lite.engine)["failed"], False)
    assert status_counts(lite.Session) == _truth(lite.engine)
    counted = [
        *statements_of(lite.engine, lambda: status_counts(lite.Session)),
        *statements_of(lite.engine, lambda: status_counts(lite.Session, 2)),
        *statements_of(lite.engine, lambda: read_snapshot(lite.Session)),
        *statements_of(lite.engine, lambda: reader.page(JobFilter(status="failed"), 50)),
    ]
    by_state = [s for s in counted if "FROM scrape_jobs" in s and "count(" in s]
    assert [s for s in by_state if "lease_expires_at" not in s] == [], by_state
    kept = [s for s in counted if COUNTS_TABLE in s]
    assert len(kept) == 4, counted  # one statement for each of the four reads
    with lite.engine.connect() as conn:
        plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {kept[1]}", (2,)).all()
    assert [row[3] for row in plan][0].startswith(f"SEARCH {COUNTS_TABLE} USING PRIMARY KEY")
    assert ids and len(page.jobs) == 50


def test_without_the_table_the_counts_fall_back_to_counting_the_jobs(lite: Runtime) -> None:
    """A database not migrated yet (check-schema names the table): the capped counts."""
    _fill(lite.engine)
    with lite.engine.begin() as conn:
        for name in ("insert", "update", "delete"):
            conn.exec_driver_sql(f"DROP TRIGGER scrape_job_counts_{name}")
        conn.exec_driver_sql(f"DROP TABLE {COUNTS_TABLE}")
    _all_agree(lite)
    assert lite.jobs.reader.page(JobFilter(status="failed"), 5).total == 60 // 5


def test_migration_0011_counts_the_jobs_already_there_and_check_schema_knows_it(
    sqlite_url: str,
) -> None:
    """Jobs written before 0011 are counted by it; check-schema is in sync, names a missing
    trigger, and migrate re-creates it and counts again what was written without it."""
    engine = make_engine(sqlite_url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(connection=conn), "0010")
        conn.execute(
            text("INSERT INTO users (id, username, password_hash, is_active, created_at) "
                 "VALUES (1, 'ann', 'x', 1, '2026-12-01'), (2, 'bob', 'x', 1, '2026-12-01'), "
                 "(3, 'cy', 'x', 1, '2026-12-01')")
        )  # fmt: skip
    _fill(engine)
    with engine.begin() as conn:
        command.upgrade(alembic_config(connection=conn), "head")
    assert check_schema(engine).in_sync, check_schema(engine).differences
    session = make_sessionmaker(engine)
    assert status_counts(session) == _truth(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER scrape_job_counts_insert")
        conn.execute(insert(ScrapeJob), [_row("pending", 1)])
    found = {(d.kind, d.table, d.expected) for d in check_schema(engine).differences}
    assert found == {("missing_trigger", "scrape_jobs", "trigger scrape_job_counts_insert")}
    report = migrate(engine)
    assert report.remaining == [] and report.refused == [], report.refused
    assert status_counts(session, 1) == _truth(engine, 1)
    assert (
        JobReader(session).page(JobFilter(status="pending"), 5).total == _truth(engine)["pending"]
    )
    engine.dispose()
