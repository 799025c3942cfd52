"""Stats count every bucket, edge and source as the rows say: counted from the rows, and from
the rollup the backfill of migration 0009 fills from the same rows."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from scraper import rollup
from scraper.accounts import create_user
from scraper.jobs.stats import compute_stats, stats_from_rows
from scraper.models import Asset, ScrapeJob
from scraper.runtime import Runtime

US = timedelta(microseconds=1)
END = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC)  # buckets end on the clock's 5 minutes
NOW = END - US


def _job(at: datetime, **values: Any) -> dict[str, Any]:
    row = {
        "id": str(uuid.uuid4()),
        "query": "q",
        "max_content": 1,
        "enabled_sources": ["selftest"],
        "status": "pending",
        "created_at": at,
        "updated_at": at,
        "user_id": None,
        "finished_at": None,
        "result": None,
    }
    return row | values


def _asset(job_id: str, at: datetime, size: int) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "source": "selftest",
        "url": "http://x/",
        "path": "p",
        "filename": "f",
        "sha256": uuid.uuid4().hex,
        "size_bytes": size,
        "content_type": "image/png",
        "created_at": at,
    }


def _sources(**per: tuple[int, int, str | None]) -> dict[str, Any]:
    return {"sources": {n: {"found": f, "stored": s, "error": e} for n, (f, s, e) in per.items()}}


def test_buckets_count_at_their_exact_edges_and_sources_sum_in_sql(runtime: Runtime) -> None:
    """A row on a bucket's first microsecond is in it; the last microsecond before is not."""
    owner = create_user(runtime.Session, "stats-owner", "a long password 1").id
    start = END - timedelta(hours=1)
    edge = start + timedelta(minutes=10)  # bucket 2 begins here
    jobs = [
        _job(start - US, status="completed", finished_at=start - US),  # before the window
        _job(start, status="completed", finished_at=edge, user_id=owner,
             result=_sources(selftest=(3, 2, None), url=(1, 0, "refused"))),
        _job(edge - US, status="failed", finished_at=edge - US,
             result=_sources(selftest=(4, 4, ""))),
        _job(edge, status="failed", finished_at=NOW - US, user_id=owner,
             result=_sources(url=(2, 1, "timeout"))),
        _job(END, status="completed", finished_at=END),  # at the end: outside [start, end)
        _job(NOW - timedelta(minutes=1), status="cancelled", finished_at=NOW - US),
        _job(NOW - timedelta(minutes=2), result={"sources": []}),
    ]  # fmt: skip
    assets = [
        _asset(jobs[1]["id"], start, 100),
        _asset(jobs[1]["id"], edge - US, 20),
        _asset(jobs[3]["id"], edge, 3),
        _asset(jobs[3]["id"], END, 1000),  # outside
    ]
    with runtime.engine.begin() as conn:
        conn.execute(insert(ScrapeJob), jobs)
        conn.execute(insert(Asset), assets)
        assert rollup.backfill(conn, batch=3) == len(jobs)

    stats = stats_from_rows(runtime.Session, "1h", now=NOW)
    assert compute_stats(runtime.Session, "1h", now=NOW) == stats
    got = {
        i: (b.created, b.completed, b.failed, b.files, b.bytes)
        for i, b in enumerate(stats.buckets)
        if (b.created, b.completed, b.failed, b.files, b.bytes) != (0, 0, 0, 0, 0)
    }
    assert stats.buckets[0].start == start and stats.bucket_seconds == 300
    assert got == {0: (1, 0, 0, 1, 100), 1: (1, 0, 1, 1, 20), 2: (1, 1, 0, 1, 3),
                   11: (2, 0, 1, 0, 0)}  # fmt: skip
    assert {n: vars(t) for n, t in stats.sources.items()} == {
        "selftest": {"found": 7, "stored": 6, "failed": 0},
        "url": {"found": 3, "stored": 1, "failed": 2},
    }

    mine = stats_from_rows(runtime.Session, "1h", user_id=owner, now=NOW)
    assert compute_stats(runtime.Session, "1h", user_id=owner, now=NOW) == mine
    assert sum(b.created for b in mine.buckets) == 2
    assert sum(b.files for b in mine.buckets) == 3 and sum(b.bytes for b in mine.buckets) == 123
    assert {n: vars(t) for n, t in mine.sources.items()} == {
        "selftest": {"found": 3, "stored": 2, "failed": 0},
        "url": {"found": 3, "stored": 1, "failed": 2},
    }
