"""The doctor's checks at scale: each check's time, and the plan of each statement it sends to
the jobs tables, on a database filled by `benchmarks.scale` (issue 29 item 6: measure at 1 M).

Run: .venv/bin/python -m benchmarks.doctor_scale \\
         --server-url postgresql+psycopg://postgres@127.0.0.1:5432/test --size 1000000
Prints the fill time, each check's median of --repeat runs (after one warm-up), the
EXPLAIN (ANALYZE) scan lines of its statements that read scrape_jobs, assets or stats_rollup,
and the whole `ops doctor` process time against the filled database.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

from benchmarks import scale
from healthchecks.registry import CHECKS
from scraper.config import Settings
from scraper.migrations.manage import init_db
from scraper.runtime import Runtime
from scraper.worker.heartbeats import beat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--server-url", help="PostgreSQL or MariaDB server (default: SQLite)")
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args()
    with scale.database(args.server_url, args.size, args.keep) as url:
        data = Path(tempfile.mkdtemp(prefix="doctor-scale-"))
        runtime = Runtime(Settings(database_url=url, data_dir=data, secret_key="bench"))
        init_db(runtime.engine)
        seconds, jobs, assets = scale.fill(runtime, args.size)
        print(f"filled {jobs:,} jobs and {assets:,} assets in {seconds:.0f} s", flush=True)
        beat(runtime.Session, "bench-worker", 0, 0)  # a live worker: the queue checks run in full
        for name, check in CHECKS.items():
            check.run(runtime)  # warm-up
            took = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                result = check.run(runtime)
                took.append((time.perf_counter() - started) * 1000)
            print(
                f"{name:28} median {statistics.median(took):8.1f} ms  max {max(took):8.1f} ms"
                f"  ({result.status.value})",
                flush=True,
            )
            scale.explain(runtime, name, partial(check.run, runtime))
        runtime.close()
        env = {**os.environ, "SCRAPER_DATABASE_URL": url, "SCRAPER_DATA_DIR": str(data)}
        took = []
        for _ in range(3):
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "ops.cli", "doctor"], env=env, capture_output=True
            )
            took.append(time.perf_counter() - started)
        print(f"ops doctor (whole process) median {statistics.median(took):.2f} s, runs {took}")
        print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
