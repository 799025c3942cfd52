"""The queue's own cost: no-op jobs through 1, 2 and 4 worker processes (not a test).

    .venv/bin/python -m benchmarks.queue [--jobs N] [--workers 1,2,4] [--dialects postgresql]
        [--peer /path/to/venv/bin/python]

Per database (a fresh `bench_…` database, dropped afterwards) and per number of worker
processes: N `selftest` jobs with `max_content=1` are created first, then the workers start
together and the clock runs until the last one is completed. Printed: jobs/s, the SQL
statements and transactions the workers sent per job (counted in each worker process by a
`before_cursor_execute` / `commit` / `rollback` listener on its engine, and PostgreSQL's
completing statement, which psycopg runs without those events, by a wrapper; a statement on a
connection in autocommit is a transaction of its own, with no COMMIT), the pool's connection
pings, the round trips these make (statements + pings + a BEGIN and a COMMIT per transaction
that is not autocommitted), the CPU time the worker processes used per job and, on a local
PostgreSQL, the CPU time of the database's backends per job (both from `/proc`), what one
idle worker sends per second besides its housekeeping (heartbeat, lease renewal,
rescue: the thread that does it is counted apart) and the pings, and the
creation-to-claim latency of a job created while one worker waits (median of `--latency`
jobs, `started_at - created_at`).

`--peer` runs the same no-op load through procrastinate (PostgreSQL only), from a separate
virtual environment that has it (never a dependency of this project), and counts its
statements (cursor executions) and transactions (commits, rollbacks, and statements on its
autocommit connections) in its worker processes, and the same CPU times:

    python -m venv /tmp/procvenv && /tmp/procvenv/bin/pip install procrastinate 'psycopg[binary]'
    .venv/bin/python -m benchmarks.queue --peer /tmp/procvenv/bin/python

`--idle-workers N` starts N real `scraper worker` processes sharing one data directory (one
host; PostgreSQL, poll and heartbeat at their defaults), waits until each has beaten, and
watches the database for `--fleet-seconds`: its sessions in `pg_stat_activity` (connections
per idle worker process), and the transactions and connects per second the idle fleet costs
(`pg_stat_database`); then the creation-to-claim latency of `--latency` jobs created one at a
time while the fleet idles. On a server other people use, keep N below its free connection
slots (the fleet's start-up connects each process for a moment).

A constant-work request (a fixed CPU loop) is timed first, so that numbers taken
on a loaded machine can be compared with numbers taken on another day.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import secrets
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from scraper.config import Settings
from scraper.jobs import NewJob, chained
from scraper.models import Base, ScrapeJob
from scraper.runtime import Runtime

HOUSEKEEPER = "worker-0"  # the worker's thread that beats, renews leases and rescues
CTX = mp.get_context("spawn")  # a fresh interpreter per worker, as `scraper worker` would be
ADMIN_URLS = {
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
    "mariadb": "mysql+pymysql://root:@127.0.0.1:3306/test",
}


@contextlib.contextmanager
def bench_database(dialect: str, workdir: Path) -> Iterator[str]:
    """A fresh empty database of this dialect, dropped afterwards."""
    if dialect == "sqlite":
        yield f"sqlite:///{workdir / 'queue.db'}"
        return
    admin_url = ADMIN_URLS[dialect]
    name = f"bench_{secrets.token_hex(6)}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        force = " WITH (FORCE)" if dialect == "postgresql" else ""
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}{force}"))
        admin.dispose()


class Counts:
    """Counters shared by the worker processes (statements, the housekeeper's, transactions
    with their BEGIN and COMMIT, autocommitted statements, pings)."""

    def __init__(self) -> None:
        self.statements: Synchronized[int] = CTX.Value("q", 0)  # type: ignore[assignment]
        self.heartbeats: Synchronized[int] = CTX.Value("q", 0)  # type: ignore[assignment]
        self.transactions: Synchronized[int] = CTX.Value("q", 0)  # type: ignore[assignment]
        self.autocommits: Synchronized[int] = CTX.Value("q", 0)  # type: ignore[assignment]
        self.pings: Synchronized[int] = CTX.Value("q", 0)  # type: ignore[assignment]

    def snapshot(self) -> tuple[int, int, int, int, int]:
        values = self.statements, self.heartbeats, self.transactions, self.autocommits, self.pings
        return tuple(v.value for v in values)  # type: ignore[return-value]


def _add(counter: Synchronized[int]) -> None:
    with counter.get_lock():
        counter.value += 1


def _autocommit(conn: Any) -> bool:
    return bool(conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT")


def _count_on(engine: Any, counts: Counts) -> None:
    def statement(conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        _add(counts.statements)
        if threading.current_thread().name == HOUSEKEEPER:
            _add(counts.heartbeats)
        if _autocommit(conn):  # its own transaction, without a BEGIN or a COMMIT
            _add(counts.autocommits)

    def transaction(conn: Any) -> None:
        if not _autocommit(conn):  # in autocommit, no COMMIT (or ROLLBACK) is sent
            _add(counts.transactions)

    ping = engine.dialect.do_ping

    def counted_ping(dbapi_connection: Any) -> Any:  # a pool's ping is no cursor event
        _add(counts.pings)
        return ping(dbapi_connection)

    engine.dialect.do_ping = counted_ping
    event.listen(engine, "before_cursor_execute", statement)
    # PostgreSQL's completing statement is run by psycopg itself (`chained._run`), unseen by
    # SQLAlchemy's cursor events: each is a statement and a transaction (autocommit).
    run = chained._run

    def counted_run(*args: Any) -> Any:
        _add(counts.statements)
        _add(counts.autocommits)
        return run(*args)

    chained._run = counted_run  # type: ignore[assignment]
    event.listen(engine, "commit", transaction)
    event.listen(engine, "rollback", transaction)


def _worker_process(settings: Settings, counts: Counts, ready: Any, go: Any, done: Any) -> None:
    import logging

    from scraper.worker import Worker

    logging.disable(logging.WARNING)
    runtime = Runtime(settings, pre_ping=False, kept_connections=1)  # as `scraper worker` does
    with runtime.engine.connect():  # connect before the clock starts
        pass
    worker = Worker(runtime, concurrency=1)
    runtime.files.sweep_partials()
    ready.release()
    go.wait()
    _count_on(runtime.engine, counts)
    worker.start()
    done.wait()
    worker.stop()
    runtime.close()


def settings_for(url: str, workdir: Path, poll_interval: float = 1.0) -> Settings:
    return Settings(database_url=url, data_dir=workdir / "data", poll_interval=poll_interval)


def create_jobs(runtime: Runtime, n: int) -> None:
    for i in range(n):
        runtime.jobs.create(NewJob(query=f"noop {i}", max_content=1))  # selftest: one file


def completed(runtime: Runtime) -> int:
    with runtime.Session() as s:
        return (
            s.scalar(
                select(func.count()).select_from(ScrapeJob).where(ScrapeJob.status == "completed")
            )
            or 0
        )


def reset(runtime: Runtime) -> None:
    with runtime.engine.begin() as conn:
        conn.execute(text("DELETE FROM assets"))
        conn.execute(text("DELETE FROM scrape_jobs"))
        conn.execute(text("DELETE FROM worker_heartbeats"))


@contextlib.contextmanager
def workers(settings: Settings, n: int, counts: Counts) -> Iterator[Any]:
    """`n` worker processes, connected and waiting; yields the event that starts them."""
    ready, go, done = CTX.Semaphore(0), CTX.Event(), CTX.Event()
    procs = [
        CTX.Process(target=_worker_process, args=(settings, counts, ready, go, done))
        for _ in range(n)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        ready.acquire()
    try:
        yield go, [p.pid for p in procs]
    finally:
        go.set()
        done.set()
        for p in procs:
            p.join(60)


def throughput(url: str, workdir: Path, jobs: int, n_workers: int) -> dict[str, float]:
    runtime = Runtime(settings_for(url, workdir))
    reset(runtime)
    create_jobs(runtime, jobs)
    counts = Counts()
    server = ServerCPU(runtime)
    with workers(settings_for(url, workdir), n_workers, counts) as (go, pids):
        server.start()
        cpu = cpu_seconds(pids)
        started = time.perf_counter()
        go.set()
        polls = 0
        while completed(runtime) < jobs:
            time.sleep(0.02)
            polls += 1
            if polls % 10 == 0:
                server.sample()
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(pids) - cpu
        statements, heartbeats, transactions, autocommits, pings = counts.snapshot()
        server_cpu = server.used()
    runtime.close()
    found = {
        "jobs/s": jobs / elapsed,
        "statements/job": statements / jobs,
        # Each transaction: one with its BEGIN and COMMIT, or one statement in autocommit.
        "transactions/job": (transactions + autocommits) / jobs,
        "pings/job": pings / jobs,
        # What the server is sent: a transaction adds its BEGIN and COMMIT (or ROLLBACK).
        "round trips/job": (statements + pings + 2 * transactions) / jobs,
        "housekeeping statements": heartbeats,
        "worker CPU ms/job": cpu * 1000 / jobs,
    }
    if server_cpu is not None:
        found["server CPU ms/job"] = server_cpu * 1000 / jobs
    return found


def cpu_seconds(pids: list[int]) -> float:
    """The CPU time (user + system) local processes have used so far (Linux `/proc`; 0 for
    one that is gone)."""
    import os

    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


class ServerCPU:
    """CPU used by the PostgreSQL backends of the benchmark's database (a local server; their
    processes read from `/proc`), but for the one that watches the progress; None elsewhere.
    Sampled while the jobs run too, so that a backend gone before the end still counts (up
    to its last sample)."""

    QUERY = (
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid()"
    )

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.before: dict[int, float] = {}
        self.seen: dict[int, float] = {}
        self.local = runtime.engine.dialect.name == "postgresql" and Path("/proc").is_dir()

    def _now(self) -> dict[int, float]:
        with self.runtime.engine.connect() as conn:
            pids = [int(pid) for pid in conn.scalars(text(self.QUERY))]
        return {pid: cpu_seconds([pid]) for pid in pids}

    def start(self) -> None:
        if self.local:
            self.before = self._now()
            self.seen = dict(self.before)

    def sample(self) -> None:
        if self.local:
            self.seen.update(self._now())

    def used(self) -> float | None:
        if not self.local:
            return None
        self.sample()
        return sum(cpu - self.before.get(pid, 0.0) for pid, cpu in self.seen.items())


def idle_and_latency(url: str, workdir: Path, samples: int, idle: float) -> dict[str, float]:
    """One idle worker: statements per second besides heartbeats, then creation-to-claim."""
    runtime = Runtime(settings_for(url, workdir))
    reset(runtime)
    counts = Counts()
    with workers(settings_for(url, workdir), 1, counts) as (go, _):
        go.set()
        time.sleep(1.0)  # its first beat and rescue
        s0, h0, _, _, p0 = counts.snapshot()
        time.sleep(idle)
        s1, h1, _, _, p1 = counts.snapshot()
        latencies = []
        for i in range(samples):
            time.sleep(0.2 + (i % 5) * 0.07)  # not in step with the poll
            job = runtime.jobs.create(NewJob(query=f"lat {i}", max_content=1))
            while (record := runtime.store.get(job.id)) is not None and record.started_at is None:
                time.sleep(0.005)
            assert record is not None and record.created_at is not None
            assert record.started_at is not None
            latencies.append((record.started_at - record.created_at).total_seconds() * 1000)
    runtime.close()
    return {
        "idle statements/s (job loop)": ((s1 - s0) - (h1 - h0)) / idle,
        "idle pings/s": (p1 - p0) / idle,
        "idle housekeeping statements/s": (h1 - h0) / idle,
        "claim latency median ms": statistics.median(latencies),
    }


PEER = textwrap.dedent(
    """
    import asyncio, multiprocessing as mp, os, sys, time
    import procrastinate, psycopg

    DSN, JOBS, WORKERS = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    app = procrastinate.App(connector=procrastinate.SyncPsycopgConnector(conninfo=DSN))

    @app.task(name="noop")
    def noop():
        pass

    def count(counters):
        # Statements (every query of its async connector goes through a cursor) and
        # transactions (commits, rollbacks, and statements on an autocommit connection).
        statements, transactions = counters
        execute = psycopg.AsyncCursor.execute

        def add(counter):
            with counter.get_lock():
                counter.value += 1

        async def counted(self, *args, **kwargs):
            add(statements)
            if self.connection.autocommit:
                add(transactions)
            return await execute(self, *args, **kwargs)

        def ends(method):
            async def ended(self, *args, **kwargs):
                if self.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    add(transactions)
                return await method(self, *args, **kwargs)
            return ended

        psycopg.AsyncCursor.execute = counted
        psycopg.AsyncConnection.commit = ends(psycopg.AsyncConnection.commit)
        psycopg.AsyncConnection.rollback = ends(psycopg.AsyncConnection.rollback)

    def work(go, counters):
        count(counters)
        a = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=DSN))
        a.tasks = app.tasks
        with a.open():  # connected before the clock starts, as ours are
            go.wait()
            a.run_worker(wait=False, concurrency=1, install_signal_handlers=False,
                         delete_jobs="never", listen_notify=True)

    def cpu(pids):
        tick, total = os.sysconf("SC_CLK_TCK"), 0
        for pid in pids:
            try:
                fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
            except OSError:
                pass
        return total / tick

    def backends(conn):
        pids = [r[0] for r in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()")]
        return {pid: cpu([pid]) for pid in pids}

    if __name__ == "__main__":
        with app.open():
            app.schema_manager.apply_schema()
            for i in range(JOBS):
                noop.defer()
        go, counters = mp.Event(), (mp.Value("q", 0), mp.Value("q", 0))
        procs = [mp.Process(target=work, args=(go, counters)) for _ in range(WORKERS)]
        for p in procs:
            p.start()
        time.sleep(2)
        conn = psycopg.connect(DSN, autocommit=True)
        pids = [p.pid for p in procs]
        before, used = backends(conn), cpu(pids)
        seen, polls = dict(before), 0
        start = time.perf_counter()
        go.set()
        while conn.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'"
        ).fetchone()[0] < JOBS:
            time.sleep(0.02)
            polls += 1
            if polls % 10 == 0:
                seen.update(backends(conn))
        rate = JOBS / (time.perf_counter() - start)
        used = cpu(pids) - used
        seen.update(backends(conn))
        server = sum(t - before.get(pid, 0.0) for pid, t in seen.items())
        statements, transactions = (c.value for c in counters)
        print(rate, statements / JOBS, transactions / JOBS, used * 1000 / JOBS,
              server * 1000 / JOBS)
        for p in procs:
            p.terminate()
    """
)


def peer(python: str, workdir: Path, jobs: int, n_workers: int) -> dict[str, float] | None:
    """procrastinate's no-op jobs/s, statements and transactions per job (counted in its
    worker processes, from start to the last job's completion, as ours are) on a fresh
    PostgreSQL database, or None if it failed."""
    with bench_database("postgresql", workdir) as url:
        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        script = workdir / "peer.py"
        script.write_text(PEER)
        run = subprocess.run(
            [python, str(script), dsn, str(jobs), str(n_workers)],
            capture_output=True,
            text=True,
            timeout=600,
        )
    if run.returncode != 0:
        print(f"    peer failed: {run.stderr.strip().splitlines()[-1:]}")
        return None
    rate, statements, transactions, cpu, server = map(
        float, run.stdout.strip().splitlines()[-1].split()
    )
    return {
        "jobs/s": rate,
        "statements/job": statements,
        "transactions/job": transactions,
        "worker CPU ms/job": cpu,
        "server CPU ms/job": server,
    }


FLEET_STATS = text(
    "SELECT xact_commit + xact_rollback, sessions FROM pg_stat_database"
    " WHERE datname = current_database()"
)
SAMPLER = "bench-sampler"  # the application_name of the bench's watching connections
FLEET_SESSIONS = text(
    "SELECT count(*) FROM pg_stat_activity"
    f" WHERE datname = current_database() AND application_name <> '{SAMPLER}'"
)


def sampling_engine(url: str) -> Any:
    """An autocommit engine whose sessions FLEET_SESSIONS leaves out."""
    return create_engine(
        url,
        poolclass=NullPool,
        isolation_level="AUTOCOMMIT",
        connect_args={"application_name": SAMPLER},
    )


class Peaks:
    """The most sessions seen while a phase lasts (start-up, stop), sampled every 20 ms by a
    thread on its own autocommit connection (not counted); it samples nothing
    between phases, so the idle window's transactions are the fleet's."""

    def __init__(self, url: str) -> None:
        self.engine = sampling_engine(url)
        self.phase: str | None = None
        self.peaks: dict[str, int] = {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        with self.engine.connect() as conn:
            while not self._done.is_set():
                phase = self.phase
                if phase is not None:
                    seen = int(conn.scalar(FLEET_SESSIONS) or 0)
                    self.peaks[phase] = max(self.peaks.get(phase, 0), seen)
                time.sleep(0.02)

    def close(self) -> None:
        self._done.set()
        self._thread.join(5)
        self.engine.dispose()


def idle_connections(
    workdir: Path, n: int, seconds: float = 30.0, samples: int = 10
) -> dict[str, float]:
    """`n` idle `scraper worker` processes (one data directory: one host) on a fresh
    PostgreSQL database: its sessions, the transactions and connects per second the idle
    fleet costs the server (`pg_stat_database`, this sampler's own subtracted), then the
    creation-to-claim latency of `samples` jobs created one at a time."""
    import os

    with bench_database("postgresql", workdir) as url:
        runtime = Runtime(settings_for(url, workdir))
        Base.metadata.create_all(runtime.engine)
        env = dict(os.environ, SCRAPER_DATABASE_URL=url, SCRAPER_DATA_DIR=str(workdir / "data"))
        env.update(SCRAPER_AUTO_HEAL="off", PYTHONUNBUFFERED="1")
        peaks = Peaks(url)
        peaks.phase = "start-up"
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "scraper.cli", "worker"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(n)
        ]
        sampler = sampling_engine(url)
        try:
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                with runtime.Session() as s:
                    beating = s.scalar(text("SELECT count(*) FROM worker_heartbeats")) or 0
                if beating >= n:
                    break
                time.sleep(0.5)
            runtime.close()  # from here on the bench's own pool holds nothing
            time.sleep(5.0)  # the start-up's connections close
            peaks.phase = None
            # Each statement of the autocommit sampler is a transaction of its own (the stats
            # of one transaction are a snapshot: a long one would sample one moment).
            found: dict[str, float] = {}
            with sampler.connect() as conn:
                xacts0, sessions0 = conn.execute(FLEET_STATS).one()
                started, ours, counts = time.monotonic(), 1, []
                while time.monotonic() - started < seconds:
                    counts.append(int(conn.scalar(FLEET_SESSIONS) or 0))
                    ours += 1
                    time.sleep(0.25)
                time.sleep(1.1)  # the server's stats are flushed at most once a second
                xacts1, sessions1 = conn.execute(FLEET_STATS).one()
                elapsed = time.monotonic() - started
            found["workers beating"] = float(beating)
            found["sessions max"] = float(max(counts))
            found["sessions median"] = float(statistics.median(counts))
            found["transactions/s"] = (xacts1 - xacts0 - ours) / elapsed
            found["connects/s"] = (sessions1 - sessions0) / elapsed  # ours: before sessions0
            latencies = fleet_latencies(Runtime(settings_for(url, workdir)), samples)
            if latencies:
                found["claim latency median ms"] = statistics.median(latencies)
                found["claim latency max ms"] = max(latencies)
        finally:
            sampler.dispose()
            peaks.phase = "stop"
            for p in procs:  # all at once, as a deploy stops a fleet
                p.terminate()
            for p in procs:
                p.wait(60)
            peaks.close()
    found["sessions max at start-up (the bench's own one included)"] = peaks.peaks["start-up"]
    found["sessions max while all stop"] = peaks.peaks.get("stop", 0)
    return found


def fleet_latencies(runtime: Runtime, samples: int) -> list[float]:
    """Creation-to-claim (ms) of `samples` jobs created one at a time, each once the last one
    is done (every claim hands the idle leadership to another process)."""
    latencies = []
    for i in range(samples):
        time.sleep(0.3 + (i % 5) * 0.07)  # not in step with the poll
        job = runtime.jobs.create(NewJob(query=f"fleet {i}", max_content=1))
        while (record := runtime.store.get(job.id)) is not None and record.status != "completed":
            time.sleep(0.005)
        assert record is not None and record.created_at is not None
        assert record.started_at is not None
        latencies.append((record.started_at - record.created_at).total_seconds() * 1000)
    runtime.close()
    return latencies


def calibrate() -> float:
    """Milliseconds for a fixed amount of CPU work (the machine's load at the time)."""
    started = time.perf_counter()
    total = 0
    for i in range(2_000_000):
        total += i * i % 7
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--dialects", default="postgresql,mariadb,sqlite")
    parser.add_argument("--latency", type=int, default=20, help="jobs timed from creation")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds an idle worker is watched")
    parser.add_argument("--peer", help="python of a venv with procrastinate (PostgreSQL only)")
    parser.add_argument("--idle-workers", type=int, default=0, help="idle worker processes")
    parser.add_argument(
        "--fleet-seconds", type=float, default=30.0, help="seconds the idle fleet is watched"
    )
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    print(f"constant-work request: {calibrate():.0f} ms")
    if args.idle_workers:
        with tempfile.TemporaryDirectory() as tmp:
            found = idle_connections(Path(tmp), args.idle_workers, args.fleet_seconds, args.latency)
        print(f"{args.idle_workers} idle `scraper worker` processes (postgresql): ", end="")
        print(", ".join(f"{k} {v:.2f}" for k, v in found.items()))
    for dialect in filter(None, args.dialects.split(",")):  # `--dialects ""`: the fleet alone
        print(f"{dialect}:")
        with tempfile.TemporaryDirectory() as tmp, bench_database(dialect, Path(tmp)) as url:
            workdir = Path(tmp)
            runtime = Runtime(settings_for(url, workdir))
            Base.metadata.create_all(runtime.engine)
            runtime.close()
            for n in counts:
                found = throughput(url, workdir, args.jobs, n)
                line = ", ".join(f"{k} {v:.1f}" for k, v in found.items())
                if args.peer and dialect == "postgresql":
                    theirs = peer(args.peer, workdir, args.jobs, n)
                    if theirs is not None:
                        line += "; procrastinate " + ", ".join(
                            f"{k} {v:.1f}" for k, v in theirs.items()
                        )
                print(f"  {n} worker process(es): {line}")
            found = idle_and_latency(url, workdir, args.latency, args.idle)
            print("  idle: " + ", ".join(f"{k} {v:.1f}" for k, v in found.items()))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
