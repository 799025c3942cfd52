"""One user's heaviest reads against another's (issue 28, item 2); not a test, prints numbers.

    .venv/bin/python -m benchmarks.fair_reads                      # PostgreSQL, 100,000 jobs
    .venv/bin/python -m benchmarks.fair_reads --dialect sqlite --jobs 20000 --duration 10

A fresh database (`--prefix`_<random> on the server of `--postgres-url`, dropped afterwards;
SQLite: a temporary file) is filled as `benchmarks/load.py` does, every job owned by user A.
A real `scraper serve --no-worker` then runs twice: with the default read limits, and with
them lifted (`--unlimited` values). Each time, for `--duration` seconds, 8 threads send A's
heaviest valid reads back to back (`/api/stats?window=7d` and `/api/jobs?q=` 250 x `%_`, the
red-team's probes), while user B polls `/api/jobs?limit=20` and a third thread `/healthz`,
each once every 0.2 s. Printed: A's answers by status, B's and `/healthz`'s median / p95 /
max latency, and the server's peak RSS. Target: B's p95 < 1.5 s with the limits on.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import requests

from benchmarks.load import bench_database, prepare
from ops.smoke import free_port, scraper_command, server_env, stop_process, wait_ready
from scraper.accounts import create_token, create_user
from scraper.config import Settings
from scraper.runtime import Runtime

HEAVY = ["/api/stats?window=7d", "/api/jobs?q=" + "%25_" * 250]
HEAVY_THREADS = 8
LIMITS = {
    "limited": {},
    "unlimited": {"SCRAPER_WEB_USER_READS": "1000", "SCRAPER_WEB_READS": "1000"},
}


def second_user(url: str, workdir: Path) -> str:
    """User B (owns no job) and its token."""
    runtime = Runtime(Settings(database_url=url, data_dir=workdir / "data"))
    create_user(runtime.Session, "other", "other-password")
    token = create_token(runtime.Session, "other")
    runtime.close()
    return token


def peak_rss(pid: int, stop: threading.Event, peak: list[int]) -> None:
    """Sample the server's resident set every 0.2 s; keep the largest (KiB)."""
    while not stop.wait(0.2):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    peak[0] = max(peak[0], int(line.split()[1]))
        except OSError:
            return


def loop(stop: threading.Event, send: Callable[[], requests.Response], pause: float) -> list:
    """Send until stopped; (seconds, status) per answer."""
    seen: list[tuple[float, int]] = []
    while not stop.is_set():
        started = time.perf_counter()
        try:
            status = send().status_code
        except requests.RequestException:
            status = 0
        seen.append((time.perf_counter() - started, status))
        stop.wait(pause)
    return seen


def latency(samples: list[tuple[float, int]]) -> str:
    times = sorted(seconds for seconds, _ in samples)
    if not times:
        return "no answer"
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    return f"median {statistics.median(times):.3f} s, p95 {p95:.3f} s, max {times[-1]:.3f} s"


def run(
    url: str, workdir: Path, tokens: tuple[str, str], extra: dict[str, str], seconds: float
) -> None:
    port = free_port()
    command = [*scraper_command(), "serve", "--no-worker", "--port", str(port)]
    env = server_env(url, workdir / "data", SCRAPER_AUTO_HEAL="off", **extra)
    log = workdir / "serve.log"
    with open(log, "ab") as out:
        server = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    heavy_user, other = ({"Authorization": f"Bearer {t}"} for t in tokens)
    try:
        wait_ready(base, server, 60, log)
        stop, peak = threading.Event(), [0]
        results: dict[str, list] = {}

        def start(
            name: str, send: Callable[[], requests.Response], pause: float
        ) -> threading.Thread:
            thread = threading.Thread(
                target=lambda: results.__setitem__(name, loop(stop, send, pause))
            )
            thread.start()
            return thread

        threads = [
            start(
                f"heavy{n}",
                lambda n=n: requests.get(base + HEAVY[n % 2], headers=heavy_user, timeout=120),
                0,
            )
            for n in range(HEAVY_THREADS)
        ]
        threads.append(
            start(
                "other",
                lambda: requests.get(base + "/api/jobs?limit=20", headers=other, timeout=120),
                0.2,
            )
        )
        threads.append(start("health", lambda: requests.get(base + "/healthz", timeout=120), 0.2))
        sampler = threading.Thread(target=peak_rss, args=(server.pid, stop, peak))
        sampler.start()
        time.sleep(seconds)
        stop.set()
        for thread in [*threads, sampler]:
            thread.join()
        heavy = Counter(status for n in range(HEAVY_THREADS) for _, status in results[f"heavy{n}"])
        print(f"    A's heavy reads by status: {dict(sorted(heavy.items()))}")
        statuses = dict(Counter(status for _, status in results["other"]))
        print(f"    B's /api/jobs:  {latency(results['other'])}, statuses {statuses}")
        print(f"    /healthz:       {latency(results['health'])}")
        print(f"    server peak RSS {peak[0] / 1024:.0f} MiB")
    finally:
        stop_process(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dialect", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument(
        "--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    parser.add_argument("--prefix", default="fair", help="name prefix of the database made")
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fair-") as tmp:
        workdir = Path(tmp)
        with bench_database(args.dialect, args.postgres_url, workdir, args.prefix) as url:
            tokens = (prepare(url, workdir, args.jobs), second_user(url, workdir))
            for name, extra in LIMITS.items():
                print(f"  {args.dialect}, {args.jobs:,} jobs, read limits {name}:")
                run(url, workdir, tokens, extra, args.duration)


if __name__ == "__main__":
    main()
