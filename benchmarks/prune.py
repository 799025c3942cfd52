"""`ops prune`'s pace and what it costs job writes (not a test).

    .venv/bin/python -m benchmarks.prune [--jobs N] [--assets-per-job N] [--batch N]
        [--dialect postgresql|mariadb|sqlite]

Fills a fresh `bench_…` database (PostgreSQL by default) with N finished jobs 90 days old
(each with asset rows) and has the database analyse it, as autovacuum (or an operator) would
have for a table grown over months: unanalysed, PostgreSQL's planner takes the bulk-loaded
table for a small one and sorts every old job for each batch's pick. Then it prunes them in
batches while another thread inserts a new job every few milliseconds, and prints jobs
pruned per second and the insert latency (median, p99, max) during the prune. The files are
left out (asset rows name keys no file backs): this measures the database side.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy import text

from benchmarks.load import bench_database
from scraper.config import Settings
from scraper.jobs.housekeeping import BATCH, prune
from scraper.models import Asset, Base, ScrapeJob, utcnow
from scraper.runtime import Runtime

ADMIN_URLS = {
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
    "mariadb": "mysql+pymysql://root@127.0.0.1:3306/test",
    "sqlite": "",
}


def fill(runtime: Runtime, jobs: int, per_job: int) -> None:
    at = utcnow() - timedelta(days=90)
    chunk = 5000
    with runtime.engine.begin() as conn:
        for start in range(0, jobs, chunk):
            ids = [str(uuid.uuid4()) for _ in range(min(chunk, jobs - start))]
            conn.execute(ScrapeJob.__table__.insert(), [
                dict(id=i, status="completed", query="old", max_content=per_job,
                     enabled_sources=["selftest"], created_at=at, updated_at=at, finished_at=at)
                for i in ids
            ])  # fmt: skip
            if per_job:
                conn.execute(Asset.__table__.insert(), [
                    dict(job_id=i, source="selftest", url=f"https://x/{i}/{n}",
                         path=f"downloads/00/{n:064x}.png", filename="x.png",
                         sha256=f"{n:064x}", size_bytes=1, content_type="image/png",
                         created_at=at)
                    for i in ids for n in range(per_job)
                ])  # fmt: skip


def analyse(runtime: Runtime) -> None:
    """Fresh planner statistics of the filled tables."""
    dialect = runtime.engine.dialect.name
    with runtime.engine.begin() as conn:
        for table in ("scrape_jobs", "assets"):
            conn.execute(text(f"ANALYZE {'TABLE ' if dialect == 'mysql' else ''}{table}"))


def insert_one(runtime: Runtime) -> float:
    started = time.perf_counter()
    now = utcnow()
    with runtime.Session() as s, s.begin():
        s.add(ScrapeJob(id=str(uuid.uuid4()), query="new", max_content=1,
                        enabled_sources=["selftest"], created_at=now, updated_at=now))  # fmt: skip
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--dialect", choices=sorted(ADMIN_URLS), default="postgresql")
    parser.add_argument("--server-url", help="the server's admin URL (default: per dialect)")
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--assets-per-job", type=int, default=2)
    parser.add_argument("--batch", type=int, default=BATCH)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        admin = args.server_url or ADMIN_URLS[args.dialect]
        with bench_database(args.dialect, admin, workdir) as url:
            runtime = Runtime(Settings(database_url=url, data_dir=workdir / "data"))
            Base.metadata.create_all(runtime.engine)
            started = time.perf_counter()
            fill(runtime, args.jobs, args.assets_per_job)
            analyse(runtime)
            filled = time.perf_counter() - started
            print(f"{args.dialect}: filled and analysed {args.jobs:,} jobs in {filled:.1f} s")
            latencies: list[float] = []
            done = threading.Event()

            def writer(rt: Runtime = runtime) -> None:
                while not done.is_set():
                    latencies.append(insert_one(rt))
                    time.sleep(0.005)

            thread = threading.Thread(target=writer)
            thread.start()
            started = time.perf_counter()
            removed = prune(runtime.Session, runtime.files, timedelta(days=30), batch=args.batch)
            elapsed = time.perf_counter() - started
            done.set()
            thread.join()
            runtime.close()
            ms = sorted(x * 1000 for x in latencies)
            print(f"pruned {removed.jobs:,} jobs, {removed.assets:,} asset rows in {elapsed:.1f} s"
                  f" = {removed.jobs / elapsed:,.0f} jobs/s (batch {args.batch})")  # fmt: skip
            print(f"{len(ms):,} inserts meanwhile: median {statistics.median(ms):.1f} ms, "
                  f"p99 {ms[int(len(ms) * 0.99) - 1]:.1f} ms, max {ms[-1]:.1f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
