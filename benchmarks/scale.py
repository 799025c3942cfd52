"""Every read the dashboard, API and metrics make, at growing numbers of jobs (issue 23).

    .venv/bin/python -m benchmarks.scale --sizes 100000                      # SQLite, temp dir
    .venv/bin/python -m benchmarks.scale \\
        --server-url postgresql+psycopg://postgres@127.0.0.1:5432/test --sizes 100000,1000000
    .venv/bin/python -m benchmarks.scale \\
        --server-url mysql+pymysql://root@127.0.0.1:3306/test --sizes 100000

For each size: a new database (on the server, dropped afterwards unless --keep), filled
server-side in one INSERT ... SELECT per table (no ORM): jobs spread over the last six days
(every job inside the 7d window, the worst case for /api/stats), 85 % completed, 8 % failed,
4 % cancelled, 2 % pending, 1 % running, a per-source `result` on finished jobs, about 2.5
assets per job; then the stats rollup is filled by migration 0009's own backfill (timed). Then
each read runs --repeat times in-process through the Flask test client as an admin
(sequential; `/healthz`, constant work, is the machine-load control), and the script prints
median / p95 per endpoint per size, then the growth factor from the smallest size. Beside
them: `/readyz` (uncached: every check runs; cached), what `ops jobs` reads in process, then
`ops jobs` (its defaults and common flags) and `ops doctor` as whole processes against the
filled database, --process-runs times each (wall median / p95, and the CPU time).

Last, per size, a burst: a real `scraper serve --no-worker` (waitress, 4 threads) on the same
database gets --burst-clients clients looping the slowest read of the run (then
`/api/stats?window=7d`) for --burst-seconds, while one more client asks for `/healthz` every
20 ms: its p50 / p99 (target p99 < 50 ms), beside the same probe of the idle server just
before (the machine's floor). The clients run in a process of their own: sharing the prober's
GIL, they delayed its requests themselves. With --baseline-tree (another checkout, e.g. a
`git worktree` of main), each burst runs first against a server started from that tree's code
(`python -m scraper.cli` with it first on PYTHONPATH), then this tree's: before / after in one
run, at one load.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from flask.testing import FlaskClient
from sqlalchemy import create_engine, event, text

from healthchecks.http import RUNTIME_KEY
from healthchecks.monitor import monitor_for
from ops.jobs import jobs_table, list_jobs
from ops.smoke import free_port, scraper_command, server_env, stop_process, wait_ready
from scraper import rollup
from scraper.accounts import create_token, create_user
from scraper.config import Settings
from scraper.models import Base
from scraper.runtime import Runtime
from scraper.web import create_app
from scraper.web.metrics import collector_of

STATUS = (
    "CASE WHEN {x} % 100 < 85 THEN 'completed' WHEN {x} % 100 < 93 THEN 'failed' "
    "WHEN {x} % 100 < 97 THEN 'cancelled' WHEN {x} % 100 < 99 THEN 'pending' ELSE 'running' END"
)
WORDS = "red fox|cats|dogs and cats|mountain lake|old maps|city at night|birds|forest|sea|trains"
RESULT_OK = '{"sources": {"selftest": {"found": 3, "stored": 3, "error": null}}}'
RESULT_FAILED = '{"sources": {"selftest": {"found": 2, "stored": 0, "error": "refused"}}}'
JOB_COLUMNS = (
    "id, job_type, status, progress, query, max_content, safe_search, enabled_sources, "
    "downloaded, bytes_downloaded, attempts, lease_token, result, created_at, updated_at, "
    "started_at, finished_at"
)
ASSET_COLUMNS = "job_id, source, url, path, filename, sha256, size_bytes, content_type, created_at"
SPAN_SECONDS = 6 * 24 * 3600
EXPLAIN = False
ONLY = ""
PREFIX = "scale"
REUSE = ""

FILL: dict[str, tuple[str, str]] = {
    "postgresql": (
        f"""INSERT INTO scrape_jobs ({JOB_COLUMNS})
        SELECT md5(x::text)::uuid::text, 'search', s.status,
               CASE WHEN s.status = 'completed' THEN 100 ELSE x % 100 END,
               (string_to_array(:words, '|'))[1 + x % 10] || ' ' || x, 10, true,
               '["selftest"]'::json, 3, 3000, 1, 1,
               CASE WHEN s.status = 'completed' THEN CAST(:ok AS json)
                    WHEN s.status = 'failed' THEN CAST(:failed AS json) END,
               s.at, s.at, s.at,
               CASE WHEN s.status IN ('completed', 'failed', 'cancelled')
                    THEN s.at + interval '20 seconds' END
        FROM generate_series(1, :n) AS x,
             LATERAL (SELECT {STATUS.format(x="x")} AS status,
                      (now() at time zone 'utc') - (x * (:span / :n)) * interval '1 second'
                      AS at) AS s""",
        f"""INSERT INTO assets ({ASSET_COLUMNS})
        SELECT j.id, 'selftest', 'https://example.org/' || k, 'ab/' || j.id || k, 'f.png',
               md5(j.id || k) || md5(k || j.id), 1000 + length(j.id) * k, 'image/png',
               j.created_at + interval '10 seconds'
        FROM scrape_jobs j CROSS JOIN generate_series(1, 3) AS k
        WHERE j.status = 'completed' AND k <= 2 + (hashtext(j.id) & 1)
           OR j.status <> 'completed' AND k <= 2""",
    ),
    "sqlite": (
        f"""WITH RECURSIVE seq(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM seq WHERE x < :n),
        s AS (SELECT x, {STATUS.format(x="x")} AS status,
              strftime('%Y-%m-%d %H:%M:%f000', 'now', '-' || (x * (:span / :n)) || ' seconds')
              AS at FROM seq)
        INSERT INTO scrape_jobs ({JOB_COLUMNS})
        SELECT printf('%08x-0000-4000-8000-%012x', x, x), 'search', status,
               CASE WHEN status = 'completed' THEN 100 ELSE x % 100 END,
               CASE x % 10 WHEN 0 THEN 'red fox' WHEN 1 THEN 'cats' WHEN 2 THEN 'dogs and cats'
                    WHEN 3 THEN 'mountain lake' WHEN 4 THEN 'old maps' ELSE 'birds' END
               || ' ' || x, 10, 1, '["selftest"]', 3, 3000, 1, 1,
               CASE WHEN status = 'completed' THEN :ok WHEN status = 'failed' THEN :failed END,
               at, at, at,
               CASE WHEN status IN ('completed', 'failed', 'cancelled')
                    THEN strftime('%Y-%m-%d %H:%M:%f000', at, '+20 seconds') END
        FROM s""",
        f"""INSERT INTO assets ({ASSET_COLUMNS})
        SELECT j.id, 'selftest', 'https://example.org/' || k.k, 'ab/' || j.id || k.k, 'f.png',
               printf('%s%032d', substr(j.id, 1, 32), k.k), 1000 + k.k, 'image/png',
               strftime('%Y-%m-%d %H:%M:%f000', j.created_at, '+10 seconds')
        FROM scrape_jobs j, (SELECT 1 AS k UNION ALL SELECT 2 UNION ALL SELECT 3) k
        WHERE k.k <= 2 + (j.status = 'completed' AND j.rowid % 2 = 0)""",
    ),
    "mysql": (
        f"""INSERT INTO scrape_jobs ({JOB_COLUMNS})
        WITH RECURSIVE seq(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM seq WHERE x < :n),
        s AS (SELECT x, {STATUS.format(x="x")} AS status,
              UTC_TIMESTAMP(6) - INTERVAL (x * (:span / :n)) SECOND AS at FROM seq)
        SELECT CONCAT(LPAD(HEX(x), 8, '0'), '-0000-4000-8000-', LPAD(HEX(x), 12, '0')),
               'search', status, IF(status = 'completed', 100, x % 100),
               CONCAT(ELT(1 + x % 10, 'red fox', 'cats', 'dogs and cats', 'mountain lake',
                          'old maps', 'city at night', 'birds', 'forest', 'sea', 'trains'),
                      ' ', x), 10, 1, '["selftest"]', 3, 3000, 1, 1,
               CASE WHEN status = 'completed' THEN :ok WHEN status = 'failed' THEN :failed END,
               at, at, at,
               IF(status IN ('completed', 'failed', 'cancelled'), at + INTERVAL 20 SECOND, NULL)
        FROM s""",
        f"""INSERT INTO assets ({ASSET_COLUMNS})
        SELECT j.id, 'selftest', CONCAT('https://example.org/', k.k),
               CONCAT('ab/', j.id, k.k), 'f.png', SHA2(CONCAT(j.id, k.k), 256), 1000 + k.k,
               'image/png', j.created_at + INTERVAL 10 SECOND
        FROM scrape_jobs j JOIN (SELECT 1 AS k UNION ALL SELECT 2 UNION ALL SELECT 3) k
          ON k.k <= 2 + (j.status = 'completed' AND CRC32(j.id) % 2 = 0)""",
    ),
}
ANALYZE_ROLLUP = {
    "sqlite": ["ANALYZE stats_rollup"],
    "postgresql": ["VACUUM ANALYZE stats_rollup"],
    "mysql": ["ANALYZE TABLE stats_rollup"],
}
ANALYZE = {
    "sqlite": ["ANALYZE"],
    "postgresql": ["VACUUM ANALYZE scrape_jobs", "VACUUM ANALYZE assets"],
    "mysql": ["ANALYZE TABLE scrape_jobs", "ANALYZE TABLE assets"],
}


@contextmanager
def database(server_url: str | None, size: int, keep: bool) -> Iterator[str]:
    """A new empty database for one size (SQLite in a temp dir without a server URL); with
    --reuse, the database (or SQLite file) that a run with --keep filled."""
    if REUSE:
        yield REUSE if "://" in REUSE or server_url is None else _named(server_url, REUSE)
        return
    if server_url is None:
        folder = Path(tempfile.mkdtemp(prefix="scale-"))
        url = f"sqlite:///{folder / 'bench.db'}"
        yield url
        if keep:
            print(f"kept database {url}")
        else:  # 225 MB at 100k jobs, 2.3 GB at 1M
            shutil.rmtree(folder, ignore_errors=True)
        return
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    name = f"{PREFIX}_{size}_{uuid.uuid4().hex[:6]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        if not keep:
            with admin.connect() as conn:
                conn.exec_driver_sql(f"DROP DATABASE {name}")
        else:
            print(f"kept database {name}")
        admin.dispose()


def _named(server_url: str, name: str) -> str:
    return create_engine(server_url).url.set(database=name).render_as_string(hide_password=False)


def fill(runtime: Runtime, size: int) -> tuple[float, int, int]:
    """Fill jobs and assets server-side; (seconds, jobs, assets)."""
    started = time.perf_counter()
    dialect = runtime.engine.dialect.name
    jobs_sql, assets_sql = FILL[dialect]
    params = {"n": size, "span": float(SPAN_SECONDS), "words": WORDS}
    params |= {"ok": RESULT_OK, "failed": RESULT_FAILED}
    with runtime.engine.begin() as conn:
        if dialect == "mysql":
            conn.exec_driver_sql(f"SET SESSION max_recursive_iterations = {size + 1}")
        conn.execute(text(jobs_sql), params)
        conn.execute(text(assets_sql))
    with runtime.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for statement in ANALYZE[dialect]:
            conn.exec_driver_sql(statement)
        jobs = conn.execute(text("SELECT count(*) FROM scrape_jobs")).scalar() or 0
        assets = conn.execute(text("SELECT count(*) FROM assets")).scalar() or 0
    return time.perf_counter() - started, int(jobs), int(assets)


def fill_rollup(runtime: Runtime) -> tuple[float, int]:
    """Migration 0009's backfill, as `ops migrate` runs it (autocommit batches); (s, rows)."""
    started = time.perf_counter()
    with runtime.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        rollup.backfill(conn)
        rows = conn.execute(text("SELECT count(*) FROM stats_rollup")).scalar() or 0
        for statement in ANALYZE_ROLLUP[runtime.engine.dialect.name]:
            conn.exec_driver_sql(statement)
    return time.perf_counter() - started, int(rows)


def deep_cursor(
    client: FlaskClient, headers: dict[str, str], query: str, depth: int, path: str = "/api/jobs"
) -> str:
    """Walk `depth` rows into a listing with cursors; the cursor of the page after that."""
    body = client.get(f"{path}?{query}&limit=200", headers=headers).get_json()
    for _ in range(depth // 200 - 1):
        body = client.get(
            f"{path}?{query}&limit=200&cursor={body['next_cursor']}", headers=headers
        ).get_json()
    cursor: str = body["next_cursor"]
    return cursor


def reads(client: FlaskClient, headers: dict[str, str], size: int) -> dict[str, Callable[[], Any]]:
    """Each read, as a call that fails loudly on an error status."""
    deep = deep_cursor(client, headers, "sort=progress", min(10_000, size // 2))

    def get(path: str) -> Callable[[], Any]:
        def run() -> Any:
            response = client.get(path, headers=headers)
            assert response.status_code == 200, (path, response.status_code, response.data)
            return response

        return run

    def first_metrics() -> Any:
        collector_of(client.application).clear()
        return get("/metrics")()

    def first_readyz() -> Any:
        monitor_for(runtime_of(client)).invalidate()
        return get("/readyz")()

    return {
        "/healthz (load control)": get("/healthz"),
        "/api/dashboard": get("/api/dashboard"),
        "/api/jobs (newest first)": get("/api/jobs"),
        "/api/jobs?status=failed": get("/api/jobs?status=failed"),
        # `q` (scraper.textsearch): common word, two words, a 2-character prefix (the scan
        # fallback), a rare substring (a handful of jobs), a rare one whose trigrams are all
        # common, and one that matches nothing.
        "/api/jobs?q=fox": get("/api/jobs?q=fox"),
        "/api/jobs?q=red fox": get("/api/jobs?q=red%20fox"),
        "/api/jobs?q=fo (short: scan)": get("/api/jobs?q=fo"),
        "/api/jobs?q=ox 4242 (rare)": get("/api/jobs?q=ox%204242"),
        # rare-ish (0.2 % of jobs at 1M) though each of its trigrams is in over 10,000 jobs
        "/api/jobs?q=cats 99 (trigrams common)": get("/api/jobs?q=cats%2099"),
        "/api/jobs?q=zebra (none)": get("/api/jobs?q=zebra"),
        "/api/jobs?sort=progress 10k deep (cursor)": get(
            f"/api/jobs?sort=progress&limit=50&cursor={deep}"
        ),
        "/api/stats?window=1h": get("/api/stats?window=1h"),
        "/api/stats?window=24h": get("/api/stats?window=24h"),
        "/api/stats?window=7d": get("/api/stats?window=7d"),
        "/metrics (first, uncached)": first_metrics,
        "/readyz (uncached: every check)": first_readyz,
        "/readyz (cached)": get("/readyz"),
        **other_reads(client, headers, get, size),
    }


def other_reads(
    client: FlaskClient,
    headers: dict[str, str],
    get: Callable[[str], Callable[[], Any]],
    size: int,
) -> dict[str, Callable[[], Any]]:
    """The rest of what the dashboard and API read: assets (the table 2.5× the jobs), one
    job, the counts, the workers, and the HTML pages (a bearer token signs them in too)."""
    job = client.get("/api/jobs?status=completed&limit=1", headers=headers).get_json()
    job_id = job["jobs"][0]["job_id"]
    assets = client.get("/api/assets?limit=1", headers=headers).get_json()
    asset_id = assets["assets"][0]["id"]
    deep = deep_cursor(client, headers, "", min(10_000, size // 2), "/api/assets")
    return {
        "/api/assets (newest first)": get("/api/assets"),
        "/api/assets 10k deep (cursor)": get(f"/api/assets?cursor={deep}"),
        "/api/assets?job_id=": get(f"/api/assets?job_id={job_id}"),
        "/api/assets/<id>": get(f"/api/assets/{asset_id}"),
        "/api/jobs/<id>": get(f"/api/jobs/{job_id}"),
        "/api/job-progress/<id>": get(f"/api/job-progress/{job_id}"),
        "/api/job-counts": get("/api/job-counts"),
        "/api/workers": get("/api/workers"),
        "/ (dashboard page)": get("/"),
        "/jobs (page)": get("/jobs"),
        "/jobs/<id> (page)": get(f"/jobs/{job_id}"),
    }


def runtime_of(client: FlaskClient) -> Runtime:
    runtime: Runtime = client.application.extensions[RUNTIME_KEY]
    return runtime


def ops_reads(runtime: Runtime) -> dict[str, Callable[[], Any]]:
    """What `ops jobs` asks the database for, in process (its listing, without the process):
    the default, then its common flags."""

    def listing(status: str | None = None, storage: str | None = None, limit: int = 50) -> Any:
        return lambda: jobs_table(list_jobs(runtime, status, storage, limit))

    return {
        "ops jobs, in process": listing(),
        "ops jobs --status failed, in process": listing("failed"),
        "ops jobs --limit 1000, in process": listing(limit=1000),
    }


# `ops jobs` with its default arguments and its common flags, then `ops doctor`: whole processes
OPS_COMMANDS = {
    "ops jobs": ["jobs"],
    "ops jobs --status failed": ["jobs", "--status", "failed"],
    "ops jobs --status pending": ["jobs", "--status", "pending"],
    "ops jobs --storage database": ["jobs", "--storage", "database"],
    "ops jobs --limit 1000": ["jobs", "--limit", "1000"],
    "ops jobs --json": ["jobs", "--json"],
    "ops doctor": ["doctor"],
}


def processes(url: str, workdir: Path, runs: int) -> dict[str, tuple[float, float]]:
    """Each `ops` command above as a fresh process `runs` times against the filled database:
    (median, p95) wall ms; prints the median CPU time (user + system) too, which a loaded
    machine inflates less than wall time."""
    env = {**os.environ, "SCRAPER_DATABASE_URL": url, "SCRAPER_DATA_DIR": str(workdir / "data")}
    found = {}
    for name, arguments in OPS_COMMANDS.items():
        if ONLY and ONLY not in name:
            continue
        wall, cpu = [], []
        for _ in range(runs):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "ops.cli", *arguments], env=env, capture_output=True
            )
            wall.append((time.perf_counter() - started) * 1000)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.append((after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000)
            # 1: the doctor found a problem (no worker runs here); 2 or more: it failed
            assert done.returncode in (0, 1), (name, done.returncode, done.stderr[-2000:])
        found[name] = (statistics.median(wall), percentile(wall, 95))
        print(
            f"  {name + ' (process)':<44} median {found[name][0]:8.1f} ms   "
            f"p95 {found[name][1]:8.1f} ms   cpu {statistics.median(cpu):6.0f} ms",
            flush=True,
        )
    return {f"{name} (whole process)": times for name, times in found.items()}


def measure(run: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """(median, p95) in milliseconds of `repeat` calls after one warm-up."""
    run()
    spent = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        spent.append((time.perf_counter() - started) * 1000)
    ordered = sorted(spent)
    return statistics.median(spent), ordered[max(0, round(0.95 * len(ordered)) - 1)]


def explain(runtime: Runtime, name: str, run: Callable[[], Any]) -> None:
    """Print the plan of each statement `run` makes: PostgreSQL's EXPLAIN ANALYZE scan lines,
    MariaDB's EXPLAIN rows, SQLite's EXPLAIN QUERY PLAN."""
    captured: list[tuple[str, Any]] = []

    def keep(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        statement = re.sub(r"^SET STATEMENT \S+ FOR ", "", statement)  # MariaDB's time bound
        reads_jobs = any(t in statement for t in ("scrape_jobs", "FROM assets", "stats_rollup"))
        if statement.lstrip().upper().startswith("SELECT") and reads_jobs:
            captured.append((statement, parameters))

    event.listen(runtime.engine, "before_cursor_execute", keep)
    try:
        run()
    finally:
        event.remove(runtime.engine, "before_cursor_execute", keep)
    print(f"  EXPLAIN {name}")
    dialect = runtime.engine.dialect.name
    with runtime.engine.connect() as conn:
        for statement, parameters in captured:
            if dialect == "postgresql":
                plan = conn.exec_driver_sql(f"EXPLAIN (ANALYZE) {statement}", parameters)
                lines = [str(r[0]) for r in plan]
                wanted = [ln.strip() for ln in lines if "Scan" in ln or "Sort" in ln]
                took = next((ln for ln in lines if ln.startswith("Execution Time")), "")
                print(f"    {' | '.join(wanted[:3])} | {took}")
            elif dialect == "mysql":  # table, access type, key, rows, extra
                plan = conn.exec_driver_sql(f"EXPLAIN {statement}", parameters).mappings()
                print("    " + " | ".join(
                    f"{r['table']} {r['type']} key={r['key']} rows={r['rows']} {r['Extra'] or ''}"
                    for r in plan
                ))  # fmt: skip
            else:
                plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
                print("    " + " | ".join(str(r[3]) for r in plan))


def one_size(server_url: str | None, size: int, args: argparse.Namespace) -> dict[str, Any]:
    with database(server_url, size, args.keep) as url:
        workdir = Path(tempfile.mkdtemp(prefix="scale-data-"))
        runtime = Runtime(Settings(database_url=url, data_dir=workdir, secret_key="bench"))
        if not REUSE:
            Base.metadata.create_all(runtime.engine)
            seconds, jobs, assets = fill(runtime, size)
            print(f"size {size:,}: filled {jobs:,} jobs and {assets:,} assets in {seconds:.0f} s")
            seconds, rows = fill_rollup(runtime)
            print(f"  rollup backfill (migration 0009): {rows:,} rows in {seconds:.1f} s")
        else:
            print(f"size {size:,}: reusing {url}")
        name = f"bench-{uuid.uuid4().hex[:8]}"
        create_user(runtime.Session, name, "bench password", admin=True)
        token = create_token(runtime.Session, name)
        headers = {"Authorization": f"Bearer {token}"}
        client = create_app({"SCRAPER_RUNTIME": runtime}).test_client()
        # What the benchmark itself holds (the app, the fill's leftovers) is frozen out of the
        # collector: else a full collection of it (~100 ms) lands in whichever read allocates
        # most (`ops jobs --limit 1000`'s p95). The `ops` processes below are timed whole.
        gc.collect()
        gc.freeze()
        results = {}
        for name, run in (reads(client, headers, size) | ops_reads(runtime)).items():
            if ONLY and ONLY not in name and "load control" not in name:
                continue
            if EXPLAIN:
                explain(runtime, name, run)
            results[name] = measure(run, args.repeat)
            median, p95 = results[name]
            print(f"  {name:<44} median {median:8.1f} ms   p95 {p95:8.1f} ms", flush=True)
        runtime.close()
        gc.unfreeze()
        if args.process_runs > 0:
            results |= processes(url, workdir, args.process_runs)
        print(f"  load average {os.getloadavg()[0]:.2f}", flush=True)
        if args.burst_seconds > 0:
            slowest = max((n for n in results if n.startswith("/api/")), key=lambda n: results[n])
            for target in dict.fromkeys([slowest, "/api/stats?window=7d"]):
                name = f"/healthz during a burst of {target.split(' ')[0]}"
                if args.baseline_tree:
                    before = burst(url, workdir, token, target, args, args.baseline_tree)
                    results[f"{name} (baseline tree)"] = before
                results[name] = burst(url, workdir, token, target, args)
        return results


def burst(
    url: str,
    workdir: Path,
    token: str,
    slowest: str,
    args: argparse.Namespace,
    tree: Path | None = None,
) -> tuple[float, float]:
    """/healthz (p50, p99) in ms while clients loop the slowest read on a real server (run
    from `tree`'s code when given)."""
    path = slowest.split(" (")[0].replace(" ", "%20")  # "/api/jobs?q=red fox" is a URL too
    if "cursor" in slowest:
        path = "/api/jobs?sort=progress&limit=50"  # a fresh walk's first page: its own cursor
    port = free_port()
    serve = ["serve", "--no-worker", "--port", str(port)]
    env = server_env(url, workdir / "data", SCRAPER_AUTO_HEAL="off", SCRAPER_SECRET_KEY="bench")
    command = scraper_command() + serve
    if tree is not None:  # the baseline's code ahead of this checkout's editable install
        command, env["PYTHONPATH"] = [sys.executable, "-m", "scraper.cli", *serve], str(tree)
    log = workdir / "serve.log"
    with open(log, "ab") as out:
        # cwd: `python -m` puts it first on sys.path, ahead of PYTHONPATH; from this checkout
        # the "baseline" would import this checkout's code
        server = subprocess.Popen(command, env=env, cwd=tree, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {token}"}
    spawn = multiprocessing.get_context("spawn")
    ready, stop, answers = spawn.Event(), spawn.Event(), spawn.Queue()
    hammers = spawn.Process(
        target=hammer,
        args=(base + path, headers, args.burst_clients, args.burst_polite, ready, stop, answers),
    )
    try:
        wait_ready(base, server, 60, log)
        idle = probe(base, args.burst_seconds / 2)  # the machine's own floor, at this load
        hammers.start()
        ready.wait(120)
        spent = probe(base, args.burst_seconds)
        stop.set()
        done: list[int] = answers.get(timeout=120)
        hammers.join()
    finally:
        stop.set()
        stop_process(server)
        if hammers.is_alive():
            hammers.kill()
    p99 = percentile(spent, 99)
    rate = done.count(200) / args.burst_seconds
    refused = (len(done) - done.count(200)) / args.burst_seconds
    print(
        f"  burst{' (baseline tree)' if tree else ''}: {args.burst_clients} clients on {path} "
        f"({rate:.0f} req/s answered, "
        f"{refused:.0f} req/s 429/503); /healthz "
        f"p50 {statistics.median(spent):.1f} ms, p99 {p99:.1f} ms over {len(spent)} requests "
        f"(idle server before: p50 {statistics.median(idle):.1f}, p99 {percentile(idle, 99):.1f} "
        f"ms); load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    return statistics.median(spent), p99


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(p / 100 * len(ordered)) - 1)]


def probe(base: str, seconds: float) -> list[float]:
    """Milliseconds of each GET /healthz, one every 20 ms for `seconds`."""
    spent = []
    deadline = time.monotonic() + seconds
    with requests.Session() as http:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            http.get(base + "/healthz", timeout=30).raise_for_status()
            spent.append((time.perf_counter() - started) * 1000)
            time.sleep(0.02)
    return spent


def hammer(
    url: str,
    headers: dict[str, str],
    clients: int,
    polite: bool,
    ready: Any,
    stop: Any,
    answers: Any,
) -> None:
    """The burst's clients, in a process of their own (so their threads do not slow the
    `/healthz` prober's by holding its GIL): each loops GET `url` until `stop`; a 429 / 503
    (the read slots, scraper.web.fairness) is asked again at once, or with `polite` after its
    Retry-After. Sets `ready` once they run; puts the list of statuses on `answers`."""
    done: list[int] = []

    def loop() -> None:
        with requests.Session() as http:
            while not stop.is_set():
                response = http.get(url, headers=headers, timeout=60)
                assert response.status_code in (200, 429, 503), (url, response.status_code)
                done.append(response.status_code)
                if response.status_code != 200 and polite:
                    stop.wait(float(response.headers.get("Retry-After", 1)))

    threads = [threading.Thread(target=loop) for _ in range(clients)]
    for thread in threads:
        thread.start()
    ready.set()
    for thread in threads:
        thread.join()
    answers.put(done)


def _burst_cell(found: tuple[float, float] | None) -> str:
    return "–" if found is None else f"p50 {found[0]:.1f}, p99 {found[1]:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server-url", help="PostgreSQL or MariaDB server (default: SQLite)")
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated job counts")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    parser.add_argument(
        "--reuse", default="", help="a database (name or URL; SQLite: URL) kept by --keep: no fill"
    )
    parser.add_argument("--explain", action="store_true", help="print each statement's plan")
    parser.add_argument("--only", default="", help="run only the reads whose name contains this")
    parser.add_argument("--db-prefix", default="scale", help="name prefix of the databases")
    parser.add_argument(
        "--process-runs", type=int, default=5, help="runs of each `ops` process; 0: none"
    )
    parser.add_argument("--burst-clients", type=int, default=8)
    parser.add_argument("--burst-seconds", type=float, default=10.0, help="0: no burst")
    parser.add_argument(
        "--baseline-tree",
        type=Path,
        help="also run each burst against a server from this checkout's code (before / after)",
    )
    parser.add_argument(
        "--burst-polite", action="store_true", help="burst clients wait a 429's Retry-After"
    )
    args = parser.parse_args()
    global EXPLAIN, ONLY, PREFIX, REUSE
    EXPLAIN, ONLY, PREFIX, REUSE = args.explain, args.only, args.db_prefix, args.reuse
    sizes = [int(s) for s in args.sizes.split(",")]
    table = {size: one_size(args.server_url, size, args) for size in sizes}
    base = sizes[0]
    print(f"\n| read | {' | '.join(f'{s:,} median (p95)' for s in sizes)} | growth |")
    print(f"|---|{'---|' * len(sizes)}---|")
    names = dict.fromkeys(name for size in sizes for name in table[size])
    for name in names:
        if name.startswith("/healthz during"):
            cells = [_burst_cell(table[s].get(name)) for s in sizes]
            print(f"| {name} | {' | '.join(cells)} | |")
            continue
        cells = [f"{table[s][name][0]:.1f} ({table[s][name][1]:.1f}) ms" for s in sizes]
        growth = table[sizes[-1]][name][0] / max(table[base][name][0], 0.001)
        print(f"| {name} | {' | '.join(cells)} | {growth:.2f}x |")


if __name__ == "__main__":
    main()
