"""Time `ops check-schema` against Alembic's `compare_metadata` on a 300-table schema.

Builds 300 tables (12 columns, 2 indexes, a foreign key, a unique constraint each; see
`benchmarks.schema_models`) on SQLite, PostgreSQL and MariaDB, and times, on the same database:

- in process: `check_schema` vs `compare_metadata` (models loaded, engine connected);
- whole processes, as a user runs them: `ops check-schema --models ...` and a script calling
  `compare_metadata`, each minus a baseline process that only imports the models and
  connects. Reported for the database in sync and with one planted drift (a dropped column,
  whose fix ops renders). Both tools must find the drift.

Each figure is the best of `--repeat` runs, as wall time and as CPU time (user + sys of the
process: steadier on a shared machine, but blind to the database server's share); the three
processes run in turn, `--repeat` rounds, so a change in the machine's load hits all three.

    .venv/bin/python -m benchmarks.schema_check [--tables 300] [--repeat 5]
        [--postgres URL] [--mariadb URL] [--dialects sqlite,postgresql,mariadb] [--prefix P]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from benchmarks.schema_models import build_metadata
from ops.schema import check_schema

DRIFT_TABLE, DRIFT_COLUMN = "t0150", "c07"
ROOT = Path(__file__).resolve().parent.parent
MODELS = "benchmarks.schema_models:metadata"
Timing = tuple[float, float, bool]  # best wall seconds, best CPU seconds, drift found

# Every process freezes the garbage collector once the models are loaded, as `ops
# check-schema` does: else full collections during the work and at exit walk every model
# object (about 0.3 s of CPU on 300 tables), the same in each process.
BASELINE = """
import gc, sys, sqlalchemy as sa
from benchmarks.schema_models import metadata
gc.freeze()
with sa.create_engine(sys.argv[1]).connect() as conn:
    conn.exec_driver_sql("SELECT 1")
"""
ALEMBIC = """
import gc, sys, sqlalchemy as sa
from benchmarks.schema_models import metadata
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
gc.freeze()
with sa.create_engine(sys.argv[1]).connect() as conn:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    diffs = compare_metadata(context, metadata)
sys.exit(1 if any("c07" in repr(d) for d in diffs) else 0)
"""


@contextmanager
def sqlite_database() -> Iterator[str]:
    """A temporary SQLite file."""
    with tempfile.TemporaryDirectory() as folder:
        yield f"sqlite:///{Path(folder) / 'bench.db'}"


@contextmanager
def server_database(admin_url: str, prefix: str = "bench") -> Iterator[str]:
    """A temporary database `<prefix>_<random>` on the PostgreSQL or MariaDB server at
    `admin_url`."""
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    force = " WITH (FORCE)" if admin.dialect.name == "postgresql" else ""
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}{force}"))
        admin.dispose()


def _cpu() -> float:
    """CPU seconds used so far by this process and its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(func: Callable[[], bool]) -> Timing:
    """Wall and CPU seconds of one run, and whether it found the drift."""
    before, started = _cpu(), time.perf_counter()
    found = func()
    return time.perf_counter() - started, _cpu() - before, found


def best(samples: list[Timing]) -> Timing:
    """Best wall and best CPU seconds of the samples; drift found only if every run found it."""
    walls, cpus, found = zip(*samples, strict=True)
    return min(walls), min(cpus), all(found)


def best_of(repeat: int, func: Callable[[], bool]) -> Timing:
    """Best wall and CPU seconds over `repeat` runs, and whether every run found the drift."""
    return best([timed(func) for _ in range(repeat)])


def process(args: list[str]) -> Callable[[], bool]:
    """A function running one whole process; True when it exits 1 (drift found)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))

    def execute() -> bool:
        done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, timeout=600)
        if done.returncode not in (0, 1):
            raise RuntimeError(done.stderr.decode()[-2000:])
        return done.returncode == 1

    return execute


def whole_processes(url: str, repeat: int) -> dict[str, Timing]:
    """Best times of the baseline, ops and Alembic processes on `url`."""
    python = sys.executable
    check = ["check-schema", "--models", MODELS, "--database-url", url]
    runs = {
        "baseline": process([python, "-c", BASELINE, url]),
        "ops": process([python, "-m", "ops.cli", *check]),
        "alembic": process([python, "-c", ALEMBIC, url]),
    }
    samples: dict[str, list[Timing]] = {name: [] for name in runs}
    for _ in range(repeat):  # interleaved: a swing of the shared machine's load hits all three
        for name, execute in runs.items():
            samples[name].append(timed(execute))
    return {name: best(found) for name, found in samples.items()}


def in_process(engine: sa.Engine, metadata: sa.MetaData, repeat: int) -> tuple[Timing, Timing]:
    """Best times of check_schema and compare_metadata on an open engine."""

    def ours() -> bool:
        report = check_schema(engine, metadata)
        return any(d.column == DRIFT_COLUMN for d in report.differences)

    def alembic() -> bool:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diffs = compare_metadata(context, metadata)
        return any(DRIFT_COLUMN in repr(d) for d in diffs)

    return best_of(repeat, ours), best_of(repeat, alembic)


def report_processes(label: str, state: str, times: dict[str, Timing]) -> None:
    """Per measure: each process's time, what ops and Alembic add over the baseline, the ratio."""
    for pos, measure in ((0, "wall"), (1, "cpu")):
        base, ops, alembic = (times[n][pos] for n in ("baseline", "ops", "alembic"))
        ops_added, alembic_added = ops - base, alembic - base
        print(
            f"{label:<11} process {state:<7} {measure:<4} baseline={base:.2f}s "
            f"ops={ops:.2f}s (+{ops_added:.2f}s) alembic={alembic:.2f}s (+{alembic_added:.2f}s)"
            f"  ratio={alembic_added / max(ops_added, 1e-3):.1f}x"
            f"  drift found: ops {times['ops'][2]}, alembic {times['alembic'][2]}",
            flush=True,
        )


def run(label: str, url: str, metadata: sa.MetaData, repeat: int) -> None:
    """Create the schema; time processes in sync; plant the drift; time everything again."""
    engine = sa.create_engine(url)
    metadata.create_all(engine)
    report_processes(label, "in-sync", whole_processes(url, repeat))
    with engine.begin() as conn:
        conn.execute(sa.text(f"ALTER TABLE {DRIFT_TABLE} DROP COLUMN {DRIFT_COLUMN}"))
    report_processes(label, "drift", whole_processes(url, repeat))
    ours, alembic = in_process(engine, metadata, repeat)
    assert ours[2] and alembic[2], "both tools must find the planted drift"
    for pos, measure in ((0, "wall"), (1, "cpu")):
        print(
            f"{label:<11} in-process {measure:<4} tables={len(metadata.tables)} "
            f"check_schema={ours[pos]:.3f}s compare_metadata={alembic[pos]:.3f}s "
            f"speed-up={alembic[pos] / ours[pos]:.1f}x",
            flush=True,
        )
    engine.dispose()


def main() -> None:
    """Parse arguments and run on SQLite, PostgreSQL and MariaDB."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--mariadb", default="mysql+pymysql://root@127.0.0.1:3306/test")
    parser.add_argument("--prefix", default="bench", help="name prefix of the databases made")
    parser.add_argument("--dialects", default="sqlite,postgresql,mariadb")
    args = parser.parse_args()
    dialects = args.dialects.split(",")
    os.environ["BENCH_TABLES"] = str(args.tables)
    metadata = build_metadata(args.tables)
    if "sqlite" in dialects:
        with sqlite_database() as url:
            run("sqlite", url, metadata, args.repeat)
    for label, admin in (("postgresql", args.postgres), ("mariadb", args.mariadb)):
        if label not in dialects:
            continue
        try:
            with server_database(admin, args.prefix) as url:
                run(label, url, metadata, args.repeat)
        except sa.exc.OperationalError as exc:
            print(f"{label:<11} skipped: {str(exc.orig).strip().splitlines()[0]}")


if __name__ == "__main__":
    main()
