"""Time `check_schema` against Alembic's `compare_metadata` on a 300-table schema.

Builds 300 tables (12 columns, 2 indexes, a foreign key, a unique constraint each), creates
them, plants one drift (a dropped column), then times both on the same database in the same
run, on SQLite and PostgreSQL. Both must find the drift.

    .venv/bin/python -m benchmarks.schema_check [--tables 300] [--repeat 3] [--postgres URL]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from ops.schema import check_schema
from scraper.db import NAMING_CONVENTION, make_engine

DRIFT_TABLE, DRIFT_COLUMN = "t0150", "c07"


def build_metadata(count: int) -> sa.MetaData:
    """`count` tables chained by foreign keys, each with 12 columns, 2 indexes and a unique."""
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    for i in range(count):
        parent = [sa.ForeignKey(f"t{i - 1:04d}.id")] if i else []
        columns: list[sa.schema.SchemaItem] = [
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("parent_id", sa.Integer, *parent),
            sa.Column("name", sa.String(80), nullable=False),
            sa.Column("code", sa.String(32), nullable=False),
            sa.Column("flag", sa.Boolean, server_default=sa.true(), nullable=False),
            sa.Column("created_at", sa.DateTime, nullable=False),
        ]
        columns += [sa.Column(f"c{n:02d}", sa.Integer, server_default="0") for n in range(6, 12)]
        sa.Table(
            f"t{i:04d}",
            metadata,
            *columns,
            sa.Index(None, "name"),
            sa.Index(None, "created_at", "flag"),
            sa.UniqueConstraint("code"),
        )
    return metadata


@contextmanager
def sqlite_database() -> Iterator[str]:
    """A temporary SQLite file."""
    with tempfile.TemporaryDirectory() as folder:
        yield f"sqlite:///{Path(folder) / 'bench.db'}"


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A temporary PostgreSQL database on the server at `admin_url`."""
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def best_of(repeat: int, func: Callable[[], bool]) -> tuple[float, bool]:
    """Median seconds over `repeat` runs, and whether every run found the drift."""
    times, found = [], True
    for _ in range(repeat):
        started = time.perf_counter()
        found = func() and found
        times.append(time.perf_counter() - started)
    return statistics.median(times), found


def run(label: str, url: str, metadata: sa.MetaData, repeat: int) -> None:
    """Create the schema, plant the drift, time both tools and print one line."""
    engine = make_engine(url)
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(sa.text(f"ALTER TABLE {DRIFT_TABLE} DROP COLUMN {DRIFT_COLUMN}"))

    def ours() -> bool:
        report = check_schema(engine, metadata)
        return any(d.column == DRIFT_COLUMN for d in report.differences)

    def alembic() -> bool:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diffs = compare_metadata(context, metadata)
        return any(DRIFT_COLUMN in repr(d) for d in diffs)

    ours_s, ours_ok = best_of(repeat, ours)
    alembic_s, alembic_ok = best_of(repeat, alembic)
    print(
        f"{label:<11} tables={len(metadata.tables)}  check_schema={ours_s:.3f}s "
        f"(drift found: {ours_ok})  alembic compare_metadata={alembic_s:.3f}s "
        f"(drift found: {alembic_ok})  speed-up={alembic_s / ours_s:.1f}x"
    )
    engine.dispose()


def main() -> None:
    """Parse arguments and run on SQLite, then PostgreSQL."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    args = parser.parse_args()
    metadata = build_metadata(args.tables)
    with sqlite_database() as url:
        run("sqlite", url, metadata, args.repeat)
    try:
        with postgres_database(args.postgres) as url:
            run("postgresql", url, metadata, args.repeat)
    except sa.exc.OperationalError as exc:
        print(f"postgresql  skipped: {str(exc.orig).strip().splitlines()[0]}")


if __name__ == "__main__":
    main()
