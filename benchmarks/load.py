"""HTTP load on a real `scraper serve` over 100,000 jobs (not a test; prints a Markdown table).

    .venv/bin/python -m benchmarks.load                 # PostgreSQL, then SQLite
    .venv/bin/python -m benchmarks.load --dialect sqlite --duration 5

PostgreSQL: a fresh `bench_<random>` database on the server of `--postgres-url` (dropped
afterwards); SQLite: a file in a temporary directory. Each is filled with `--jobs` rows (the
`benchmarks/metrics_scrape.py` fill; its pending rows are turned into cancelled ones so no worker
could ever pick them up) owned by one ordinary user, and served by `scraper serve --no-worker`
(waitress). Debian's `wrk` then measures, closed-loop with `--connections` connections:
(a) `GET /api/jobs?status=running` (the dashboard's poll), (b) `POST /api/comprehensive-search`
(job creation; the jobs it makes are pending, which is why no worker runs and the database is
thrown away), (c) `GET /healthz`, the server's ceiling. wrk2 is not available, so the poll at
a fixed rate is paced by wrk itself: a Lua `delay()` makes each of `--paced-connections`
connections wait a random 0..2x(connections/rate) s between requests, like that many dashboards
polling (the achieved rate is printed beside the p99; it is a little under `--rate`, because a
connection also waits for its response).
Targets: poll p99 < 50 ms at 200 req/s; job creation >= 30 % of the /healthz ceiling.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from benchmarks.metrics_scrape import ANALYZE, fill
from ops.smoke import free_port, scraper_command, server_env, stop_process, wait_ready
from scraper.accounts import create_token, create_user
from scraper.config import Settings
from scraper.models import Base
from scraper.runtime import Runtime

POLL = "/api/jobs?status=running&limit=20"
SEARCH = '{"query": "load test", "max_content": 1, "enabled_sources": ["selftest"]}'
POST_LUA = f"""wrk.method = "POST"
wrk.body = '{SEARCH}'
wrk.headers["Content-Type"] = "application/json"
"""
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True)
class WrkResult:
    """What one wrk run measured."""

    rps: float
    p99_ms: float
    errors: int


@dataclass(frozen=True)
class Row:
    dialect: str
    poll: WrkResult
    at_rate: WrkResult
    create: WrkResult
    health: WrkResult


def wrk(
    url: str,
    token: str,
    args: argparse.Namespace,
    script: Path | None = None,
    connections: int | None = None,
) -> WrkResult:
    """Run wrk for `args.duration` seconds and parse its summary."""
    command = ["wrk", "-t", str(args.wrk_threads), "-c", str(connections or args.connections)]
    command += ["-d", f"{args.duration}s", "--latency", "-H", f"Authorization: Bearer {token}"]
    if script is not None:
        command += ["-s", str(script)]
    out = subprocess.run(
        [*command, url], capture_output=True, text=True, check=True, timeout=args.duration + 60
    ).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    if rps is None or p99 is None:
        raise RuntimeError(f"cannot parse wrk output:\n{out}")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    failed = re.search(r"Socket errors:.*?timeout (\d+)", out)
    errors = (int(bad.group(1)) if bad else 0) + (int(failed.group(1)) if failed else 0)
    return WrkResult(float(rps.group(1)), float(p99.group(1)) * _UNITS[p99.group(2)], errors)


def paced_script(rate: float, connections: int) -> str:
    """wrk Lua: each connection waits a random 0..2x(connections/rate) s before its next
    request, so together they send about `rate` req/s, spread out rather than in bursts."""
    mean_ms = connections / rate * 1000
    return f"function delay()\n  return math.random(0, {2 * mean_ms:.0f})\nend\n"


@contextlib.contextmanager
def bench_database(
    dialect: str, admin_url: str, workdir: Path, prefix: str = "bench"
) -> Iterator[str]:
    """An empty database of this dialect; a server's (`<prefix>_<random>` on the server of
    `admin_url`, PostgreSQL or MariaDB) is dropped afterwards."""
    if dialect == "sqlite":
        yield f"sqlite:///{workdir / 'bench.db'}"
        return
    name = f"{prefix}_{secrets.token_hex(6)}"
    charset = " CHARACTER SET utf8mb4" if dialect == "mariadb" else ""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}{charset}"))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        force = " WITH (FORCE)" if dialect == "postgresql" else ""
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}{force}"))
        admin.dispose()


def prepare(url: str, workdir: Path, jobs: int) -> str:
    """Create the tables, fill them, and return an ordinary user's token."""
    runtime = Runtime(Settings(database_url=url, data_dir=workdir / "data"))
    Base.metadata.create_all(runtime.engine)
    create_user(runtime.Session, "bench", "bench-password")
    token = create_token(runtime.Session, "bench")
    print(f"  filled {jobs:,} jobs in {fill(runtime.engine, jobs):.1f} s")
    with runtime.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE scrape_jobs SET user_id = (SELECT id FROM users WHERE username = 'bench'),"
                " status = CASE WHEN status = 'pending' THEN 'cancelled' ELSE status END"
            )
        )
    with runtime.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(ANALYZE[runtime.engine.dialect.name])  # the UPDATE made new stats
    print(f"  jobs per status: {runtime.store.count_by_status()}")
    runtime.close()
    return token


def measure(dialect: str, url: str, workdir: Path, args: argparse.Namespace) -> Row:
    """Serve `url` and run the four measurements against it."""
    token = prepare(url, workdir, args.jobs)
    port = free_port()
    command = scraper_command() + ["serve", "--no-worker", "--port", str(port)]
    command += ["--threads", str(args.threads)]
    # One token polls from every connection: lift the per-user and global read limits, this
    # measures throughput (the limits are tested in tests/scraper/web/test_fair_reads.py).
    unlimited = {"SCRAPER_WEB_USER_READS": "1000", "SCRAPER_WEB_READS": "1000"}
    env = server_env(url, workdir / "data", SCRAPER_AUTO_HEAL="off", **unlimited)
    log = workdir / f"serve-{dialect}.log"
    with open(log, "ab") as out:
        server = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, server, 60, log)
        headers = {"Authorization": f"Bearer {token}"}
        requests.get(base + POLL, headers=headers, timeout=30).raise_for_status()
        script = workdir / "post.lua"
        script.write_text(POST_LUA)
        health = wrk(base + "/healthz", token, args)
        poll = wrk(base + POLL, token, args)
        pacing = workdir / "paced.lua"
        pacing.write_text(paced_script(args.rate, args.paced_connections))
        at_rate = wrk(base + POLL, token, args, pacing, connections=args.paced_connections)
        create = wrk(base + "/api/comprehensive-search", token, args, script)
    finally:
        stop_process(server)
    return Row(dialect, poll, at_rate, create, health)


def table(rows: list[Row], args: argparse.Namespace) -> str:
    """The results as a Markdown table."""
    lines = [
        "| database | (a) poll req/s | (a) p99 | (a) paced: req/s, p99 | "
        "(b) create req/s | (b) p99 | (c) /healthz req/s | (a)/(c) | (b)/(c) | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        errors = r.poll.errors + r.at_rate.errors + r.create.errors + r.health.errors
        paced = f"{r.at_rate.rps:.0f}, {r.at_rate.p99_ms:.1f} ms"
        lines.append(
            f"| {r.dialect} | {r.poll.rps:.0f} | {r.poll.p99_ms:.1f} ms | {paced}"
            f" | {r.create.rps:.0f} | {r.create.p99_ms:.1f} ms | {r.health.rps:.0f} | "
            f"{r.poll.rps / r.health.rps:.0%} | {r.create.rps / r.health.rps:.0%} | {errors} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument(
        "--dialect", action="append", choices=["postgresql", "sqlite"], dest="dialects"
    )
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument("--threads", type=int, default=4, help="waitress threads (serve's default)")
    parser.add_argument("--rate", type=float, default=200.0, help="paced poll rate, req/s")
    parser.add_argument("--paced-connections", type=int, default=40)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    rows = []
    for dialect in args.dialects or ["postgresql", "sqlite"]:
        workdir = Path(tempfile.mkdtemp(prefix=f"load-{dialect}-"))
        print(f"{dialect}:")
        try:
            with bench_database(dialect, args.postgres_url, workdir) as url:
                rows.append(measure(dialect, url, workdir, args))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(table(rows, args))


if __name__ == "__main__":
    main()
