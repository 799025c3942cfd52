"""Migration 0007 (issue 23): the read indexes are built online and check-schema knows them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Connection, event, text
from sqlalchemy.exc import DBAPIError

from scraper.db import make_engine
from scraper.migrations import alembic_config
from scraper.migrations.manage import check_schema
from tests.conftest import fresh_database

NEW = {
    "ix_scrape_jobs_created_at_id",
    "ix_scrape_jobs_finished_at_status",
    "ix_scrape_jobs_progress_created_at",
    "ix_assets_created_at_size_bytes",
}


def _jobs(conn: Connection, count: int) -> None:
    conn.execute(
        text(
            "INSERT INTO scrape_jobs (id, job_type, status, progress, query, max_content, "
            "safe_search, enabled_sources, downloaded, bytes_downloaded, attempts, lease_token, "
            "created_at, updated_at) VALUES (:id, 'search', 'completed', 100, 'q', 1, true, "
            "'[\"selftest\"]', 0, 0, 1, 1, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
        ),
        [{"id": f"job-{n}"} for n in range(count)],
    )


def _statements(conn: Connection) -> list[str]:
    seen: list[str] = []

    def keep(*args: Any) -> None:
        seen.append(args[2])

    event.listen(conn, "before_cursor_execute", keep)
    return seen


@pytest.mark.slow
def test_indexes_are_built_online_when_alembic_owns_the_transaction(db_url: str) -> None:
    """Alembic may commit between revisions: PostgreSQL builds concurrently, MariaDB in place."""
    engine = make_engine(db_url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(connection=conn), "0006")
        _jobs(conn, 20)
    with engine.connect() as conn:
        seen = _statements(conn)
        command.upgrade(alembic_config(connection=conn), "0007")
    created = [s for s in seen if "ix_" in s and ("CREATE" in s or "ADD INDEX" in s)]
    assert len(created) == len(NEW), seen
    with engine.begin() as conn:
        command.upgrade(alembic_config(connection=conn), "head")
    expected = {
        "postgresql": "CREATE INDEX CONCURRENTLY IF NOT EXISTS",
        "mysql": "ALGORITHM=INPLACE, LOCK=NONE",
        "sqlite": "CREATE INDEX IF NOT EXISTS",
    }[engine.dialect.name]
    assert all(expected in s for s in created), created
    report = check_schema(engine)
    assert report.in_sync, report.differences
    engine.dispose()


@pytest.mark.postgres
def test_an_invalid_index_left_by_an_interrupted_build_is_built_again(tmp_path: Path) -> None:
    """A failed concurrent build leaves an invalid index of that name; 0007 replaces it."""
    with fresh_database("postgresql", tmp_path) as url:
        _rebuilds_invalid_index(url)


def _rebuilds_invalid_index(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(connection=conn), "0006")
        _jobs(conn, 20)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        with pytest.raises(DBAPIError):  # duplicate progress values: the build fails half-way
            conn.exec_driver_sql(
                "CREATE UNIQUE INDEX CONCURRENTLY ix_scrape_jobs_progress_created_at "
                "ON scrape_jobs (progress)"
            )
    with engine.connect() as conn:
        command.upgrade(alembic_config(connection=conn), "head")
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT c.relname, i.indisvalid, i.indisunique FROM pg_index i "
                "JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname LIKE 'ix_%'"
            )
        ).all()
    found = {name: (valid, unique) for name, valid, unique in rows if name in NEW}
    assert found == dict.fromkeys(NEW, (True, False))
    assert check_schema(engine).in_sync
    engine.dispose()
