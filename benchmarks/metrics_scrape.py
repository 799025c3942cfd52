"""Scrape latency of /metrics over a large `scrape_jobs` table (not a test; prints numbers).

    .venv/bin/python benchmarks/metrics_scrape.py                      # SQLite in a temp dir
    .venv/bin/python benchmarks/metrics_scrape.py --database-url postgresql+psycopg://.../empty_db

Fills an empty database with `--jobs` rows (default 1,000,000) in one INSERT ... SELECT, then
measures (1) the database gauges read with the cache disabled, the cost a scrape pays once per
TTL, and (2) full `/metrics` requests through the app with the default caches, a scrape storm.
Target: p95 < 100 ms.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import Connection, Engine, text

from ops.schema import safe_url
from scraper.config import Settings
from scraper.metrics.collector import ScraperCollector
from scraper.models import Base
from scraper.runtime import Runtime
from scraper.web import create_app

# Status by row number modulo 100: mostly finished work, a realistic backlog.
STATUS_CASE = (
    "CASE WHEN {x} % 100 < 90 THEN 'completed' WHEN {x} % 100 < 95 THEN 'failed' "
    "WHEN {x} % 100 < 97 THEN 'cancelled' WHEN {x} % 100 < 99 THEN 'pending' ELSE 'running' END"
)
COLUMNS = (
    "id, job_type, status, progress, query, max_content, safe_search, enabled_sources, "
    "downloaded, bytes_downloaded, attempts, lease_expires_at, created_at, updated_at"
)

FILL = {
    "sqlite": f"""
        WITH RECURSIVE seq(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM seq WHERE x < :n)
        INSERT INTO scrape_jobs ({COLUMNS})
        SELECT printf('%08x-0000-4000-8000-%012x', x, x), 'search', {STATUS_CASE.format(x="x")},
               0, 'bench', 1, 1, '["selftest"]', 0, 0, 1,
               CASE WHEN x % 100 = 99 THEN datetime('now', '+60 seconds') END,
               datetime('now', '-' || x || ' seconds'), datetime('now', '-' || x || ' seconds')
        FROM seq""",
    "postgresql": f"""
        INSERT INTO scrape_jobs ({COLUMNS})
        SELECT gen_random_uuid()::text, 'search', {STATUS_CASE.format(x="x")},
               0, 'bench', 1, true, '["selftest"]'::json, 0, 0, 1,
               CASE WHEN x % 100 = 99
                    THEN (now() at time zone 'utc') + interval '60 seconds' END,
               (now() at time zone 'utc') - x * interval '1 second',
               (now() at time zone 'utc') - x * interval '1 second'
        FROM generate_series(1, :n) AS x""",
    "mysql": f"""
        INSERT INTO scrape_jobs ({COLUMNS})
        WITH RECURSIVE seq(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM seq WHERE x < :n)
        SELECT UUID(), 'search', {STATUS_CASE.format(x="x")},
               0, 'bench', 1, 1, '["selftest"]', 0, 0, 1,
               CASE WHEN x % 100 = 99 THEN UTC_TIMESTAMP(6) + INTERVAL 60 SECOND END,
               UTC_TIMESTAMP(6) - INTERVAL x SECOND, UTC_TIMESTAMP(6) - INTERVAL x SECOND
        FROM seq""",
}
ANALYZE = {
    "sqlite": "ANALYZE",
    "postgresql": "VACUUM ANALYZE scrape_jobs",
    "mysql": "ANALYZE TABLE scrape_jobs",
}


def fill(engine: Engine, jobs: int) -> float:
    """Insert `jobs` rows and refresh planner statistics; return the seconds it took."""
    started = time.perf_counter()
    dialect = engine.dialect.name
    with engine.begin() as conn:
        if dialect == "mysql":
            variable = "max_recursive_iterations" if _mariadb(conn) else "cte_max_recursion_depth"
            conn.exec_driver_sql(f"SET SESSION {variable} = {jobs + 1}")
        conn.execute(text(FILL[dialect]), {"n": jobs})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(ANALYZE[dialect])
    return time.perf_counter() - started


def _mariadb(conn: Connection) -> bool:
    return "mariadb" in str(conn.exec_driver_sql("SELECT VERSION()").scalar()).lower()


def timings(run: Callable[[], object], count: int) -> list[float]:
    """Milliseconds of `count` calls."""
    spent = []
    for _ in range(count):
        started = time.perf_counter()
        run()
        spent.append((time.perf_counter() - started) * 1000)
    return spent


def report(label: str, spent: list[float]) -> None:
    ordered = sorted(spent)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    print(
        f"{label:<44} n={len(spent):<4} p50={statistics.median(spent):8.2f} ms  "
        f"p95={p95:8.2f} ms  max={ordered[-1]:8.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="an EMPTY database (default: temp SQLite)")
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--scrapes", type=int, default=50)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="metrics-bench-"))
    url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
    runtime = Runtime(Settings(database_url=url, data_dir=workdir / "data"))
    Base.metadata.create_all(runtime.engine)
    print(f"database: {safe_url(runtime.engine)}")
    print(f"filled {args.jobs:,} jobs in {fill(runtime.engine, args.jobs):.1f} s")
    print(f"jobs per status: {runtime.store.count_by_status()}")

    uncached = ScraperCollector(runtime, ttl=0.0)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(uncached)
    generate_latest(registry)  # warm the schema and health-check caches (30 s / 15 s)
    report(
        "database gauges, cache disabled (per TTL)",
        timings(lambda: generate_latest(registry), args.scrapes),
    )
    client = create_app({"SCRAPER_RUNTIME": runtime}).test_client()
    client.get("/metrics")
    report(
        "GET /metrics, default caches (scrape storm)",
        timings(lambda: client.get("/metrics"), args.scrapes * 4),
    )
    runtime.close()


if __name__ == "__main__":
    main()
