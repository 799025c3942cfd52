"""Totals: exact up to the limit; beyond, the planner's estimate (PostgreSQL, MariaDB) or, on
SQLite, the share of the newest jobs that match."""

from __future__ import annotations

import uuid

from sqlalchemy import insert

from scraper.jobs.reads.counting import count_jobs
from scraper.models import ScrapeJob, utcnow
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
