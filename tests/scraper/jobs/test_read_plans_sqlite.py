"""SQLite plans a statement before it sees its parameters: a page of a state, or of a user,
few jobs belong to must still read its index, not test every job newest first (issue 23)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from scraper.config import Settings
from scraper.jobs import JobFilter
from scraper.jobs.reads.keyset import Position
from scraper.models import Base
from scraper.runtime import Runtime
from tests.plugins.statements import sent_with_parameters

ROWS = 20_000
RUNNING = 3  # a state few jobs are in: every other job is completed
LIGHT = 5  # a user with RUNNING jobs (the same ones); users 1-4 own the rest
FILL = f"""
WITH RECURSIVE seq(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM seq WHERE x < {ROWS})
INSERT INTO scrape_jobs (id, job_type, status, progress, query, max_content, safe_search,
    enabled_sources, downloaded, bytes_downloaded, attempts, lease_token, created_at,
    updated_at)
SELECT printf('%08x-0000-4000-8000-%012x', x, x), 'search',
    CASE WHEN x <= {RUNNING} THEN 'running' ELSE 'completed' END, 0, 'query ' || x, 10, 1,
    '["selftest"]', 0, 0, 1, 1,
    strftime('%Y-%m-%d %H:%M:%f000', '2026-12-01', '-' || (x * 7) || ' seconds'),
    '2026-12-01 00:00:00.000000'
FROM seq
"""


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    """A SQLite runtime whose scrape_jobs holds ROWS jobs, RUNNING of them the oldest running,
    analyzed (the planner's statistics say five states, not how rare one is)."""
    tmp = tmp_path_factory.mktemp("sqlite-plans")
    url = f"sqlite:///{tmp / 'plans.db'}"
    runtime = Runtime(Settings(database_url=url, data_dir=tmp, secret_key="x"))
    Base.metadata.create_all(runtime.engine)
    with runtime.engine.begin() as conn:
        conn.exec_driver_sql(
            "WITH RECURSIVE u(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM u WHERE i < 5) "
            "INSERT INTO users (id, username, password_hash, is_active, created_at) "
            "SELECT i, 'user' || i, 'x', 1, '2026-12-01' FROM u"
        )
        conn.exec_driver_sql(FILL)
        conn.exec_driver_sql(
            f"UPDATE scrape_jobs SET user_id = CASE WHEN rowid <= {RUNNING} THEN {LIGHT} "
            "ELSE 1 + rowid % 4 END"
        )
        conn.exec_driver_sql("ANALYZE")
    yield runtime
    runtime.close()


def _page_plans(runtime: Runtime, where: JobFilter, after: Position | None = None) -> list[str]:
    """The EXPLAIN QUERY PLAN lines of each page statement (`ORDER BY`) the read sends."""
    with sent_with_parameters(runtime.engine) as sent:
        runtime.jobs.reader.page(where, 50, after=after)
    captured = [(s, p) for s, p in sent if "ORDER BY" in s]
    assert captured
    with runtime.engine.connect() as conn:
        return [
            " | ".join(str(row[3]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {s}", p))
            for s, p in captured
        ]


@pytest.mark.slow
def test_a_page_of_a_rare_state_reads_the_status_index(big: Runtime) -> None:
    """SQLite walked ix_scrape_jobs_created_at_id and tested all 20,000 jobs for 3 running
    ones; told the state is selective (`likelihood`) it takes the status range. The same for
    a page after a cursor, and for a common state."""
    page = big.jobs.reader.page(JobFilter(status="running"), 50)
    assert [job.query for job in page.jobs] == [f"query {x}" for x in range(1, RUNNING + 1)]
    for plan in _page_plans(big, JobFilter(status="running")):
        assert "USING INDEX ix_scrape_jobs_status_created_at (status=?)" in plan, plan
    first = big.jobs.reader.page(JobFilter(status="completed"), 50)
    assert first.last is not None
    after = Position(
        "-created_at", group=None, created_at=first.last["created_at"], id=first.last["id"]
    )
    for plan in _page_plans(big, JobFilter(status="completed"), after):
        assert "ix_scrape_jobs_status_created_at (status=? AND created_at<?)" in plan, plan
    assert "SCAN scrape_jobs" not in " ".join(_page_plans(big, JobFilter(status="running")))


@pytest.mark.slow
def test_a_page_of_a_user_with_few_jobs_reads_the_users_index(big: Runtime) -> None:
    """A user's own listing (`/api/jobs` for a non-admin): (user_id, created_at), not the walk
    of every job; with a state too, (user_id, status, created_at)."""
    page = big.jobs.reader.page(JobFilter(user_id=LIGHT), 50)
    assert [job.query for job in page.jobs] == [f"query {x}" for x in range(1, RUNNING + 1)]
    for plan in _page_plans(big, JobFilter(user_id=LIGHT)):
        assert "USING INDEX ix_scrape_jobs_user_id_created_at (user_id=?)" in plan, plan
    for plan in _page_plans(big, JobFilter(user_id=LIGHT, status="running")):
        assert "ix_scrape_jobs_user_id_status_created_at (user_id=? AND status=?)" in plan, plan
