"""Seen-items lookup time at 1,000,000 rows: what an incremental job pays per item (not a test).

    .venv/bin/python benchmarks/seen_items.py [--dialect postgresql|mariadb|sqlite] [--rows N]
        [--lookups N]

Fills `seen_items` server-side (PostgreSQL `generate_series`, MariaDB's `seq_1_to_N`, SQLite a
recursive CTE) with N items spread over 100 schedules, then times `SeenItems.seen` (the one
indexed read a job makes before downloading an item) for items that are there and items that
are not, each in its own session as a job makes them, and prints the median and p99 in ms and
the plan of the query (it must use the unique index `uq_seen_items_scope_source_item_hash`).
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import Engine, select, text

from benchmarks.load import bench_database
from scraper.config import Settings
from scraper.models import Base, SeenItem
from scraper.runtime import Runtime
from scraper.schedules.seen import SeenItems, item_hash
from scraper.sources import MediaItem

SCOPES = 100
ADMIN_URLS = {
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
    "mariadb": "mysql+pymysql://root@127.0.0.1:3306/test",
    "sqlite": "",
}
FILL = {
    "postgresql": """
        INSERT INTO seen_items (scope, source, item_hash, item_key, created_at)
        SELECT 's:' || (g % {scopes} + 1), 'openverse',
               encode(sha256(convert_to('item-' || g, 'UTF8')), 'hex'), 'item-' || g, now()
        FROM generate_series(1, {rows}) AS g""",
    "mariadb": """
        INSERT INTO seen_items (scope, source, item_hash, item_key, created_at)
        SELECT CONCAT('s:', seq % {scopes} + 1), 'openverse',
               SHA2(CONCAT('item-', seq), 256), CONCAT('item-', seq), NOW(6)
        FROM seq_1_to_{rows}""",
    "sqlite": """
        WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {rows})
        INSERT INTO seen_items (scope, source, item_hash, item_key, created_at)
        SELECT 's:' || (n % {scopes} + 1), 'openverse', sha256_hex('item-' || n),
               'item-' || n, CURRENT_TIMESTAMP
        FROM g""",
}
EXPLAIN = {"postgresql": "EXPLAIN ", "mariadb": "EXPLAIN ", "sqlite": "EXPLAIN QUERY PLAN "}


def fill(engine: Engine, dialect: str, rows: int) -> float:
    started = time.perf_counter()
    with engine.begin() as conn:
        if dialect == "sqlite":
            raw = conn.connection.driver_connection
            raw.create_function(  # type: ignore[union-attr]
                "sha256_hex", 1, lambda v: hashlib.sha256(v.encode()).hexdigest()
            )
        conn.execute(text(FILL[dialect].format(rows=rows, scopes=SCOPES)))
    if dialect == "postgresql":
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(
                text("VACUUM ANALYZE seen_items")
            )
    elif dialect == "mariadb":
        with engine.begin() as conn:
            conn.execute(text("ANALYZE TABLE seen_items"))
    return time.perf_counter() - started


def timings(runtime: Runtime, numbers: list[int]) -> tuple[list[float], int]:
    """ms per lookup, and how many were found."""
    found, spent = 0, []
    for n in numbers:
        seen = SeenItems(runtime.Session, "bench", f"s:{n % SCOPES + 1}")
        item = MediaItem(url=f"https://example.org/{n}.jpg", item_id=f"item-{n}")
        started = time.perf_counter()
        found += seen.seen("openverse", item)
        spent.append((time.perf_counter() - started) * 1000)
    return spent, found


def query_only(runtime: Runtime, numbers: list[int]) -> list[float]:
    """ms per lookup query on one open connection: the index's share of `seen`."""
    spent = []
    with runtime.engine.connect() as conn:
        for n in numbers:
            query = select(SeenItem.id).where(
                SeenItem.scope == f"s:{n % SCOPES + 1}",
                SeenItem.source == "openverse",
                SeenItem.item_hash == item_hash(f"item-{n}"),
            )
            started = time.perf_counter()
            conn.execute(query).first()
            spent.append((time.perf_counter() - started) * 1000)
    return spent


def plan(engine: Engine, dialect: str) -> str:
    query = select(SeenItem.id).where(
        SeenItem.scope == f"s:{7 % SCOPES + 1}",
        SeenItem.source == "openverse",
        SeenItem.item_hash == item_hash("item-7"),
    )
    compiled = query.compile(engine, compile_kwargs={"literal_binds": True})
    with engine.connect() as conn:
        rows = conn.execute(text(EXPLAIN[dialect] + str(compiled))).all()
    return " | ".join(" ".join(str(v) for v in row if v is not None) for row in rows)


def summary(ms: list[float]) -> str:
    ordered = sorted(ms)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"median {statistics.median(ms):.3f} ms, p99 {p99:.3f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--dialect", choices=sorted(FILL), default="postgresql")
    parser.add_argument("--admin-url", default=None, help="Server URL to create the database on.")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=2_000)
    args = parser.parse_args()
    admin = args.admin_url or ADMIN_URLS[args.dialect]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        kind = "postgresql" if args.dialect == "postgresql" else args.dialect
        with _database(kind, admin, workdir) as url:
            runtime = Runtime(Settings(database_url=url, data_dir=workdir / "data"))
            Base.metadata.create_all(runtime.engine)
            seconds = fill(runtime.engine, args.dialect, args.rows)
            print(f"{args.dialect}: filled {args.rows:,} seen items in {seconds:.1f} s")
            timings(runtime, list(range(1, 200)))  # warm the pool and the caches
            picks = random.Random(7)
            present = [picks.randint(1, args.rows) for _ in range(args.lookups)]
            absent = [args.rows + picks.randint(1, args.rows) for _ in range(args.lookups)]
            ms, found = timings(runtime, present)
            assert found == len(present), "a filled item was not found (hash mismatch?)"
            print(f"  seen (present, {len(present):,} lookups): {summary(ms)}")
            ms, found = timings(runtime, absent)
            assert found == 0
            print(f"  seen (absent, {len(absent):,} lookups):  {summary(ms)}")
            ms = query_only(runtime, present)
            print(f"  the query alone on one connection:    {summary(ms)}")
            print(f"  plan: {plan(runtime.engine, args.dialect)}")
            runtime.close()


def _database(kind: str, admin: str, workdir: Path):  # type: ignore[no-untyped-def]
    if kind == "mariadb":
        return _mariadb(admin)
    return bench_database(kind, admin, workdir)


def _mariadb(admin_url: str):  # type: ignore[no-untyped-def]
    import contextlib
    import secrets

    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    @contextlib.contextmanager
    def made():  # type: ignore[no-untyped-def]
        name = f"bench_{secrets.token_hex(6)}"
        engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4"))
        try:
            yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with engine.connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
            engine.dispose()

    return made()


assert item_hash("item-1") == hashlib.sha256(b"item-1").hexdigest()  # what the fills compute

if __name__ == "__main__":
    main()
