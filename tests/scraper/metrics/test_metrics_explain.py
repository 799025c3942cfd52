"""The collector's queries read indexes, not whole tables (EXPLAIN on every dialect)."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, Select, event, insert

from scraper.jobs.queries import (
    expired_leases_stmt,
    oldest_pending_stmt,
    recent_workers_stmt,
)
from scraper.jobs.tally import status_counts
from scraper.models import ScrapeJob, WorkerHeartbeat, utcnow
from scraper.runtime import Runtime

STATUSES = ("pending", "running", "completed", "failed", "cancelled")
STATEMENTS = {
    "oldest_pending": lambda now: oldest_pending_stmt(),
    "expired_leases": lambda now: expired_leases_stmt(now),
    "recent_workers": lambda now: recent_workers_stmt(now - timedelta(hours=1)),
}


def _fill(runtime: Runtime, jobs: int = 3000) -> None:
    now = utcnow()
    rows = [
        {
            "id": str(uuid.uuid4()),
            "query": "q",
            "max_content": 1,
            "enabled_sources": ["selftest"],
            "status": STATUSES[n % 5],
            "created_at": now - timedelta(seconds=n),
            "lease_expires_at": now - timedelta(seconds=n % 7) if n % 5 == 1 else None,
        }
        for n in range(jobs)
    ]
    beats = [
        {"id": f"w{n}", "hostname": "h", "pid": n, "last_seen_at": now - timedelta(days=n)}
        for n in range(500)
    ]
    with runtime.engine.begin() as conn:
        conn.execute(insert(ScrapeJob), rows)
        conn.execute(insert(WorkerHeartbeat), beats)
    with runtime.engine.connect() as conn:
        for table in ("scrape_jobs", "worker_heartbeats"):
            conn.exec_driver_sql(_analyze(runtime.engine, table))
        conn.commit()


def _analyze(engine: Engine, table: str) -> str:
    return f"ANALYZE TABLE {table}" if engine.dialect.name == "mysql" else f"ANALYZE {table}"


def explain(engine: Engine, stmt: Select[Any]) -> list[Any]:
    """Run `stmt`, capture the SQL the driver got, and EXPLAIN exactly that."""
    captured: list[tuple[str, Any]] = []

    def capture(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        captured.append((statement, parameters))

    with engine.connect() as conn:
        event.listen(conn, "before_cursor_execute", capture)
        conn.execute(stmt).all()
        event.remove(conn, "before_cursor_execute", capture)
    return explain_sql(engine, *captured[-1])


def explain_sql(engine: Engine, statement: str, parameters: Any) -> list[Any]:
    """EXPLAIN `statement` as the driver got it (PostgreSQL with scans of the table off)."""
    with engine.connect() as conn:
        dialect = engine.dialect.name
        if dialect == "postgresql":
            # Tiny test tables make a sequential scan cheapest; forbid it to prove an index fits.
            conn.exec_driver_sql("SET enable_seqscan = off")
            plan = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters)
            return [json.loads(r[0]) if isinstance(r[0], str) else r[0] for r in plan]
        prefix = "EXPLAIN QUERY PLAN" if dialect == "sqlite" else "EXPLAIN"
        return [dict(r._mapping) for r in conn.exec_driver_sql(f"{prefix} {statement}", parameters)]


def _pg_nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    found = [node]
    for child in node.get("Plans", []):
        found += _pg_nodes(child)
    return found


def assert_uses_index(dialect: str, plan: list[Any]) -> None:
    if dialect == "sqlite":
        details = [row["detail"] for row in plan]
        scans = [d for d in details if "scrape_jobs" in d or "worker_heartbeats" in d]
        assert scans and all("INDEX" in d for d in scans), details
    elif dialect == "postgresql":
        nodes = _pg_nodes(plan[0][0]["Plan"])
        kinds = [n["Node Type"] for n in nodes]
        assert "Seq Scan" not in kinds, kinds
        assert any(n.get("Index Name", "").startswith("ix_") for n in nodes), kinds
    else:
        for row in plan:
            if str(row.get("table", "")).startswith("<derived"):
                continue  # the capped subquery's own rows, read once it is done
            extra = row.get("Extra") or ""
            assert row.get("key") or "optimized away" in extra, plan


@pytest.mark.parametrize("query", sorted(STATEMENTS))
def test_collector_queries_use_indexes(runtime: Runtime, query: str) -> None:
    _fill(runtime)
    plan = explain(runtime.engine, STATEMENTS[query](utcnow()))
    assert_uses_index(runtime.engine.dialect.name, plan)


def test_the_per_status_counts_read_the_status_index(runtime: Runtime) -> None:
    """`scraper_jobs_in_database`: one capped range of a status index per status (no count
    of the whole table); SQLite reads scrape_job_counts (test_state_counts.py)."""
    _fill(runtime)
    captured: list[tuple[str, Any]] = []

    def capture(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if "count(*)" in statement:
            captured.append((statement, parameters))

    event.listen(runtime.engine, "before_cursor_execute", capture)
    try:
        assert status_counts(runtime.Session) == dict.fromkeys(STATUSES, 600)
    finally:
        event.remove(runtime.engine, "before_cursor_execute", capture)
    if runtime.engine.dialect.name == "sqlite":  # the counts its triggers keep, not the jobs
        assert captured == [], captured
        return
    assert len(captured) == len(STATUSES)
    for statement, parameters in captured:
        plan = explain_sql(runtime.engine, statement, parameters)
        assert_uses_index(runtime.engine.dialect.name, plan)
