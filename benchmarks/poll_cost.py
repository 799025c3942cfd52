"""The dashboard poll's cost per request over 100,000 jobs, in process (not a test).

    .venv/bin/python benchmarks/poll_cost.py [--jobs N] [--requests N]

wrk numbers (benchmarks/load.py) swing with whatever else runs on the machine; this measures
one request at a time through the Flask test client against a fresh `bench_…` PostgreSQL
database filled like load.py's (1,000 running jobs of one ordinary user), and prints the median
wall time and the median CPU time of this process per request (the database's own work is in
the wall time only). Run it on two checkouts to compare them:

    PYTHONPATH=/path/to/other/checkout .venv/bin/python benchmarks/poll_cost.py
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.load import bench_database, prepare
from scraper.config import Settings
from scraper.runtime import Runtime
from scraper.web import create_app

PATHS = ("/api/jobs?status=running&limit=20", "/api/dashboard", "/api/jobs?limit=20")


def measure(url: str, workdir: Path, requests: int) -> dict[str, tuple[float, float]]:
    """Median (wall ms, cpu ms) per path."""
    token = prepare(url, workdir, JOBS)
    runtime = Runtime(Settings(database_url=url, data_dir=workdir / "data"))
    app = create_app({"SCRAPER_RUNTIME": runtime, "TESTING": True})
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    found = {}
    for path in PATHS:
        for _ in range(20):  # warm caches and the connection pool
            assert client.get(path, headers=headers).status_code == 200
        walls, cpus = [], []
        for _ in range(requests):
            wall, cpu = time.perf_counter(), time.process_time()
            client.get(path, headers=headers)
            walls.append((time.perf_counter() - wall) * 1000)
            cpus.append((time.process_time() - cpu) * 1000)
        found[path] = (statistics.median(walls), statistics.median(cpus))
    runtime.close()
    return found


def main() -> None:
    global JOBS
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    JOBS = args.jobs
    workdir = Path(tempfile.mkdtemp(prefix="poll-cost-"))
    with bench_database("postgresql", args.postgres_url, workdir) as url:
        found = measure(url, workdir, args.requests)
    print("| request | median wall ms | median CPU ms (web process) |")
    print("|---|---:|---:|")
    for path, (wall, cpu) in found.items():
        print(f"| `GET {path}` | {wall:.2f} | {cpu:.2f} |")


JOBS = 100_000

if __name__ == "__main__":
    main()
