"""init_db: everything on an empty database, idempotent, only what is missing on a partial one."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text

from ops.schema.hidden import Hidden, hidden_tables
from scraper.db import make_engine
from scraper.migrations.manage import check_schema, head_revision, init_db
from scraper.models import Base


def test_init_db_on_empty_database_creates_everything_and_stamps_head(db_url: str) -> None:
    eng = make_engine(db_url)
    report = init_db(eng)
    assert sorted(report.created) == sorted(Base.metadata.tables)
    assert report.stamped == head_revision()
    assert check_schema(eng).in_sync
    eng.dispose()


@pytest.mark.slow
def test_init_db_twice_changes_nothing_the_second_time(db_url: str) -> None:
    eng = make_engine(db_url)
    init_db(eng)
    again = init_db(eng)
    assert (again.created, again.stamped) == ([], None)
    assert check_schema(eng).in_sync
    eng.dispose()


def test_init_db_on_partial_database_creates_only_missing_tables(db_url: str) -> None:
    eng = make_engine(db_url)
    Base.metadata.create_all(eng, tables=[Base.metadata.tables[n] for n in ("users", "roles")])
    with eng.begin() as conn:
        conn.execute(text("INSERT INTO roles (id, name) VALUES (1, 'admin')"))
    report = init_db(eng)
    assert "roles" not in report.created and "scrape_jobs" in report.created
    assert report.stamped == head_revision()
    assert check_schema(eng).in_sync
    with eng.connect() as conn:
        assert conn.execute(text("SELECT name FROM roles")).scalar() == "admin"
        assert "alembic_version" in inspect(conn).get_table_names()
    eng.dispose()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_table_off_the_search_path_is_hidden_not_missing(db_url: str) -> None:
    """It exists, in a schema the role may use but does not search: to the role it looks
    missing, and the fix is the search_path, not a second table."""
    eng = make_engine(db_url)
    try:
        with eng.begin() as conn:
            conn.execute(text("CREATE SCHEMA elsewhere"))
            conn.execute(text("CREATE TABLE elsewhere.scrape_jobs (id integer)"))
        assert hidden_tables(eng, ["scrape_jobs", "users"]) == {
            "scrape_jobs": Hidden("elsewhere", usable=True)
        }
        with eng.begin() as conn:  # one in sight: nothing is hidden any more
            conn.execute(text("CREATE TABLE public.scrape_jobs (id integer)"))
        assert hidden_tables(eng, ["scrape_jobs"]) == {}
    finally:
        eng.dispose()
