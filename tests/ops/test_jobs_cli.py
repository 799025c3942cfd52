"""`ops jobs` lists both stores; `ops reconcile` moves held jobs once and says how many."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, text

from ops.cli import main
from ops.jobs import jobs_json, jobs_table
from scraper.jobs import NewJob
from scraper.models import Base, ScrapeJob
from scraper.runtime import Runtime
from tests.ops.conftest import hold_job

HELD_ID = "7f000000-0000-4000-8000-0000000000aa"


@pytest.fixture
def runtime(env_runtime: Runtime) -> Runtime:
    """An initialized database with one job in it and one held in the fallback store."""
    env_runtime.jobs.create(NewJob(query="in the database", max_content=1))
    hold_job(env_runtime, HELD_ID, "database refused")
    return env_runtime


def ops(*args: str) -> tuple[int, Any]:
    result = CliRunner().invoke(main, [*args, "--json"])
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else None


def rows(runtime: Runtime) -> int:
    with runtime.Session() as s:
        return s.scalar(select(func.count()).select_from(ScrapeJob)) or 0


def test_jobs_lists_both_stores_with_their_storage(runtime: Runtime) -> None:
    code, listing = ops("jobs")
    assert code == 0
    assert listing["total"] == 2
    assert sorted(job["storage"] for job in listing["jobs"]) == ["database", "fallback"]


@pytest.mark.parametrize(
    ("storage", "query"), [("fallback", "held"), ("database", "in the database")]
)
def test_jobs_filters_by_storage(runtime: Runtime, storage: str, query: str) -> None:
    code, listing = ops("jobs", "--storage", storage)
    assert code == 0
    assert [job["query"] for job in listing["jobs"]] == [query]


def test_an_estimated_total_says_so(runtime: Runtime) -> None:
    """Past 10,000 jobs the database's total is the planner's estimate (scraper.jobs.reads
    .counting): the table says "about", the JSON carries `total_is_estimate` as the API does."""
    page = runtime.jobs.list(limit=1)
    assert (jobs_json(page)["total_is_estimate"], jobs_table(page).splitlines()[-1]) == (
        False,
        "1 shown of 2",
    )
    page.total, page.total_is_estimate = 1_001_234, True
    assert jobs_json(page)["total_is_estimate"] is True
    assert jobs_table(page).splitlines()[-1] == "1 shown of about 1001234 (estimated)"


def test_jobs_table_has_a_header_and_every_job(runtime: Runtime) -> None:
    result = CliRunner().invoke(main, ["jobs", "--status", "pending"])
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0].split() == [
        "ID", "STATUS", "STORAGE", "PROGRESS", "QUERY", "CREATED", "WORKER",
    ]  # fmt: skip
    assert HELD_ID in result.stdout
    assert "2 shown of 2" in result.stdout


def test_reconcile_moves_held_jobs_once_and_says_how_many(runtime: Runtime) -> None:
    code, first = ops("reconcile")
    assert code == 0
    assert (first["moved"], first["failed"], first["moved_ids"]) == (1, 0, [HELD_ID])
    code, second = ops("reconcile")
    assert code == 0
    assert (second["moved"], second["already_present"]) == (0, 0)
    assert rows(runtime) == 2
    text_result = CliRunner().invoke(main, ["reconcile"])
    assert "nothing to reconcile" in text_result.stdout


def test_reconcile_against_a_refusing_database_exits_1_with_the_reason(runtime: Runtime) -> None:
    with runtime.engine.begin() as conn:
        conn.execute(text("ALTER TABLE scrape_jobs DROP COLUMN updated_at"))
    code, result = ops("reconcile")
    assert code == 1
    assert result["failed"] == 1
    assert "updated_at" in result["failures"][HELD_ID]
    assert len(runtime.fallback) == 1


def test_jobs_against_an_unreachable_database_lists_fallback_jobs_and_exits_1(
    runtime: Runtime,
) -> None:
    """Issue 15: the fallback jobs are still listed, with why the database's are missing."""
    unreachable = ["--database-url", "postgresql+psycopg://nobody@127.0.0.1:1/none"]
    result = CliRunner().invoke(main, ["jobs", *unreachable])
    assert result.exit_code == 1
    assert HELD_ID in result.stdout
    assert "the database could not be read" in result.stdout
    code, listing = ops("jobs", *unreachable)
    assert code == 1
    assert [job["job_id"] for job in listing["jobs"]] == [HELD_ID]
    assert "cannot connect" in listing["database_error"]


def test_jobs_under_a_missing_column_lists_every_database_job(runtime: Runtime) -> None:
    with runtime.engine.begin() as conn:
        conn.execute(text("ALTER TABLE scrape_jobs DROP COLUMN updated_at"))
    code, listing = ops("jobs")
    assert code == 1
    assert listing["total"] == 2
    assert sorted(job["storage"] for job in listing["jobs"]) == ["database", "fallback"]
    assert listing["missing_columns"] == ["updated_at"]
    result = CliRunner().invoke(main, ["jobs"])
    assert "in the database" in result.stdout and "lacks column(s) updated_at" in result.stdout


def test_jobs_against_a_database_without_the_tables_exits_1_and_says_so(runtime: Runtime) -> None:
    """Issue 29: not "0 shown of 0" and exit 0, the very lie the product exists to end."""
    Base.metadata.drop_all(runtime.engine)
    code, listing = ops("jobs")
    assert code == 1
    assert [job["job_id"] for job in listing["jobs"]] == [HELD_ID]  # the held job is still shown
    assert "no scrape_jobs table" in listing["database_error"]
    result = CliRunner().invoke(main, ["jobs"])
    assert result.exit_code == 1 and "no scrape_jobs table" in result.stdout
