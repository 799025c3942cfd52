"""Declared extra objects (`ops.schema.extras`): SQLite's FTS table and triggers survive a
rebuild of scrape_jobs, by migrate's own rebuilds and by repairing someone else's."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import Engine

from ops.schema.extras import BadExtras, declared
from scraper.db import make_engine
from scraper.migrations.manage import check_schema, init_db, migrate
from scraper.models import Base
from tests.ops.schema.test_check_schema import key, plant

QUERIES = [f"{animal} {n}" for n in range(12) for animal in ("red fox", "grey wolf", "owl")]
DROP_CHECK = ("ck_scrape_jobs_progress_range", "check")


def _rows(engine: Engine, sql: str) -> set[tuple[object, ...]]:
    with engine.connect() as conn:
        return {tuple(row) for row in conn.exec_driver_sql(sql)}


def _insert(engine: Engine, queries: list[str]) -> None:
    rows = [
        {"id": str(uuid.uuid4()), "query": q, "max_content": 1, "enabled_sources": []}
        for q in queries
    ]
    with engine.begin() as conn:
        conn.execute(sa.insert(Base.metadata.tables["scrape_jobs"]), rows)


def _delete_some(engine: Engine, pattern: str) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DELETE FROM scrape_jobs WHERE query LIKE '{pattern}'")


def _assert_consistent(engine: Engine) -> None:
    """The FTS table holds exactly each job's query under the job's rowid, passes FTS5's own
    integrity check, and a phrase query finds what Python finds; the per-state counts
    (scraper.statecounts) are the jobs'."""
    jobs = _rows(engine, "SELECT rowid, query FROM scrape_jobs")
    assert _rows(engine, "SELECT rowid, query FROM scrape_jobs_fts") == jobs
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO scrape_jobs_fts(scrape_jobs_fts) VALUES('integrity-check')"
        )
    found = _rows(
        engine,
        "SELECT query FROM scrape_jobs WHERE rowid IN "
        "(SELECT rowid FROM scrape_jobs_fts WHERE scrape_jobs_fts MATCH '\"ox 1\"')",
    )
    assert found == {(q,) for _, q in jobs if "ox 1" in str(q)} != set()
    counted = "SELECT coalesce(user_id, 0), status, count(*) FROM scrape_jobs GROUP BY 1, 2"
    kept = "SELECT user_id, status, jobs FROM scrape_job_counts WHERE jobs > 0"
    assert _rows(engine, kept) == _rows(engine, counted) != set()  # the per-state counts too


def _rebuild_without_triggers(engine: Engine) -> None:
    """Someone else's rebuild (Alembic batch mode, as a hand-written migration would run it):
    SQLite drops the table's triggers with the old table and renumbers its rowids."""
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        conn.commit()
        with conn.begin():
            operations = Operations(MigrationContext.configure(conn))
            with operations.batch_alter_table("scrape_jobs", recreate="always") as batch:
                batch.drop_constraint(*DROP_CHECK)


def test_sqlite_rebuilds_of_scrape_jobs_keep_the_search_index_exact(sqlite_url: str) -> None:
    """A rebuild by someone else loses the triggers: check-schema names each one on
    scrape_jobs, and migrate re-creates them and the FTS content. migrate's own rebuild (to
    restore the check constraint) renumbers rowids and leaves the index exact too."""
    engine = make_engine(sqlite_url)
    init_db(engine)
    _insert(engine, QUERIES)
    _delete_some(engine, "owl%")  # gaps in the rowids: a rebuild renumbers the rest
    before = _rows(engine, "SELECT rowid, query FROM scrape_jobs")
    _rebuild_without_triggers(engine)
    assert _rows(engine, "SELECT rowid, query FROM scrape_jobs") != before
    assert [key(d) for d in check_schema(engine).differences] == [
        ("scrape_jobs", None, "missing_check_constraint", "warning"),
        *[("scrape_jobs", None, "missing_trigger", "warning")] * 6,  # q's and the counts'
    ]
    _insert(engine, ["red fox 100"])  # written while no trigger records it
    report = migrate(engine)
    assert report.remaining == []
    _assert_consistent(engine)

    plant(engine, "scrape_jobs", lambda b: b.drop_constraint(*DROP_CHECK))
    _delete_some(engine, "grey%")
    renumbered = _rows(engine, "SELECT rowid, query FROM scrape_jobs")
    assert migrate(engine).remaining == []
    assert _rows(engine, "SELECT rowid, query FROM scrape_jobs") != renumbered
    _assert_consistent(engine)
    engine.dispose()


def test_a_malformed_declaration_is_named() -> None:
    metadata = sa.MetaData(info={"ops.schema.extras": {"sqlite": [{"kind": "view", "name": "v"}]}})
    with pytest.raises(BadExtras, match="'v': missing .*'create'.*kind must be one of"):
        declared(metadata, "sqlite")
