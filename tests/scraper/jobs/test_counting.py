"""Totals: exact up to the limit; beyond, the planner's estimate (PostgreSQL, MariaDB) or, on
SQLite, the share of the newest jobs that match."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import event, insert

from scraper.jobs import JobFilter
from scraper.jobs.reads import counting
from scraper.jobs.reads.counting import count_jobs
from scraper.jobs.tally import status_counts
from scraper.models import JobStatus, ScrapeJob, utcnow
from scraper.runtime import Runtime


def test_a_total_past_the_limit_is_an_estimate_never_below_it(runtime: Runtime) -> None:
    now = utcnow()
    rows = [
        {"id": str(uuid.uuid4()), "query": "q", "max_content": 1, "enabled_sources": [],
         "status": "failed" if n % 3 else "pending", "created_at": now, "updated_at": now}
        for n in range(30)
    ]  # fmt: skip
    with runtime.engine.begin() as conn:
        conn.execute(insert(ScrapeJob), rows)
    pending = [ScrapeJob.status == "pending"]
    with runtime.Session() as s:
        assert (count_jobs(s, pending, 10).count, count_jobs(s, pending, 10).estimated) == (
            10,
            False,
        )
        assert count_jobs(s, [], 30).count == 30 and not count_jobs(s, [], 30).estimated
        past = count_jobs(s, [], 10)
        failed = count_jobs(s, [ScrapeJob.status == "failed"], 10)
    assert past.estimated and past.count >= 11
    if runtime.engine.dialect.name == "sqlite":  # the share of the newest (here all) that match
        assert (past.count, failed.count, failed.estimated) == (30, 20, True)


def test_a_state_the_planner_puts_past_the_bar_is_estimated_without_a_count(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dashboard's and the gauge's per-state counts (`estimate_first`): on PostgreSQL and
    MariaDB a state whose planner estimate is well past the cap is not counted at all (five
    capped counts were 105 ms a poll at 1 M jobs on MariaDB); a small one still is, exactly."""
    now = utcnow()
    rows = [
        {"id": str(uuid.uuid4()), "query": "q", "max_content": 1, "enabled_sources": [],
         "status": "failed" if n < 20 else "completed", "created_at": now, "updated_at": now}
        for n in range(3_020)
    ]  # fmt: skip
    with runtime.engine.begin() as conn:
        conn.execute(insert(ScrapeJob), rows)
    dialect = runtime.engine.dialect.name
    with runtime.engine.connect() as conn:  # fresh statistics, as autovacuum keeps them
        if dialect == "postgresql":
            conn.exec_driver_sql("ANALYZE scrape_jobs")
        elif dialect == "mysql":
            conn.exec_driver_sql("ANALYZE TABLE scrape_jobs").all()
        conn.commit()
    monkeypatch.setattr(counting, "ESTIMATE_FIRST", 1_000)
    sent: list[str] = []
    event.listen(runtime.engine, "before_cursor_execute", lambda *a: sent.append(a[2]))
    with runtime.Session() as s:
        completed = count_jobs(s, [ScrapeJob.status == "completed"], 100, estimate_first=True)
        counted = [t for t in sent if "count(" in t]
        failed = count_jobs(s, [ScrapeJob.status == "failed"], 100, estimate_first=True)
        sent.clear()
        assert status_counts(runtime.Session)["failed"] == 20
    assert (failed.count, failed.estimated) == (20, False)
    assert completed.estimated
    if dialect == "sqlite":  # no planner estimate: counted, then sampled past the cap
        assert counted and completed.count == 3_000
        return
    assert not counted, counted
    assert 1_000 < completed.count < 6_000, completed  # MariaDB's index dives: 1,485
    explains = [t for t in sent if t.startswith("EXPLAIN")]
    assert len(explains) == len(JobStatus), sent  # each state asks the planner first


def test_a_first_page_that_is_not_full_is_its_own_total(runtime: Runtime) -> None:
    """A rare `q` (or any filter) whose matches fit on the first page: the page's rows are
    the total, no count runs (PostgreSQL read the trigram index twice for it, the second
    time to count the same 111 jobs at 5 M); a full page, or a later one, is still counted
    (a listed q: in the statement that lists its page)."""
    now = utcnow()
    rows = [
        {"id": str(uuid.uuid4()), "query": f"red fox {n}", "max_content": 1,
         "enabled_sources": [], "created_at": now, "updated_at": now}
        for n in range(30)
    ]  # fmt: skip
    with runtime.engine.begin() as conn:
        conn.execute(insert(ScrapeJob), rows)
    sent: list[str] = []
    event.listen(runtime.engine, "before_cursor_execute", lambda *a: sent.append(a[2]))
    reader = runtime.jobs.reader
    rare = reader.page(JobFilter(q="fox 1"), 50)  # fox 1, fox 10..19
    assert (rare.total, rare.estimated, len(rare.jobs)) == (11, False, 11)
    totals = [s for s in sent if "count(*) AS count_1, max(" in s]  # count_jobs' capped count
    assert totals == [], sent
    sent.clear()
    full = reader.page(JobFilter(q="fox"), 10)
    assert (full.total, len(full.jobs)) == (30, 10)
    counts = ("count(*) AS count_1, max(", "EXPLAIN", "count(*) OVER ()")  # or with the page
    assert [s for s in sent if any(c in s for c in counts)], sent
