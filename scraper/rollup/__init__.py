"""The stats rollup: counters per five-minute slot, user and source (`StatsRollup`), changed
in the same transaction as every write that changes what `/api/stats` counts.

A job contributes, at its creation slot, one `created` and, per source it reports, one job
(`created` of the source's row), the items found and stored, and whether the source failed;
at its finish slot one `completed` or `failed`; each asset one file and its bytes at its own
slot. A write that changes a job adds the difference between the job's contribution
after and before it (`tracked_update`); a new job or asset adds its own; a deletion subtracts
what the deleted rows contributed (`subtract`): stats show what the database holds, as
they did when they were counted from the rows (so a deleted job leaves the charts).

Counting many jobs at once (the backfill of migration 0009) is done by the database, grouped
per slot and user; a job's contribution is computed from its row (a deletion batch: from the
rows it locked and deleted, no second read).
"""

from __future__ import annotations

import functools
import os
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import (
    ClauseElement,
    Connection,
    Subquery,
    TextClause,
    Update,
    bindparam,
    select,
    text,
)
from sqlalchemy.orm import Session

from scraper.models import Asset, JobStatus, ScrapeJob, StatsRollup
from scraper.rollup.buckets import bucket_number, bucket_sql
from scraper.rollup.sources import source_sql

SLOT = timedelta(minutes=5)
SLOT_START = datetime(1970, 1, 1, tzinfo=UTC)
COUNTERS = ("created", "completed", "failed", "files", "bytes", "found", "stored")
JOBS = ""  # the `source` of the job counters' row
# The columns a job's contribution depends on: an update naming none of them changes nothing.
COUNTED = frozenset({"status", "finished_at", "created_at", "user_id", "result"})

Key = tuple[int, int, str]  # (slot, user_id or 0, source or JOBS)
STATE = (
    ScrapeJob.user_id,
    ScrapeJob.status,
    ScrapeJob.created_at,
    ScrapeJob.finished_at,
    ScrapeJob.result,
)
_STATE_NAMES = [c.key for c in STATE]
_FINISHED = {JobStatus.COMPLETED.value: "completed", JobStatus.FAILED.value: "failed"}
# Dialects with `UPDATE … RETURNING` (MariaDB has it for INSERT and DELETE only).
RETURNING = frozenset({"postgresql", "sqlite"})


def _zeros() -> dict[str, int]:
    return dict.fromkeys(COUNTERS, 0)


class Deltas:
    """Counter changes per rollup row; zero rows are dropped when applied."""

    def __init__(self) -> None:
        self.rows: defaultdict[Key, dict[str, int]] = defaultdict(
            lambda: dict.fromkeys(COUNTERS, 0)
        )

    def add(self, key: Key, sign: int = 1, **counts: int) -> None:
        row = self.rows[key]
        for name, value in counts.items():
            row[name] += sign * int(value or 0)

    def merge(self, other: Deltas, sign: int = 1) -> Deltas:
        for key, counts in other.rows.items():
            self.add(key, sign, **counts)
        return self

    def nonzero(self) -> list[tuple[Key, dict[str, int]]]:
        """The changed rows in key order (every writer locks rollup rows in the same order)."""
        return sorted((k, c) for k, c in self.rows.items() if any(c.values()))


def slot_of(at: datetime) -> int:
    """The five-minute slot number of a time (aware, or naive UTC as stored): exact integer
    arithmetic on the timedelta, about 10x cheaper than converting to microseconds first (a
    prune batch counts a slot per job and per asset)."""
    return ((at if at.tzinfo is not None else at.replace(tzinfo=UTC)) - SLOT_START) // SLOT


def _user(user_id: int | None) -> int:
    return int(user_id or 0)


# -- one job, from its row --------------------------------------------------------------------


def job_counts(state: Any | None, into: Deltas | None = None, sign: int = 1) -> Deltas:
    """What one job (a row of `STATE` columns, or None for no job) contributes, added
    (`sign` times) to `into` or to new Deltas."""
    deltas = Deltas() if into is None else into
    if state is None:
        return deltas
    user = _user(state.user_id)
    born = slot_of(state.created_at)
    deltas.add((born, user, JOBS), sign, created=1)
    finished = _FINISHED.get(state.status)
    if finished is not None and state.finished_at is not None:
        deltas.add((slot_of(state.finished_at), user, JOBS), sign, **{finished: 1})
    sources = state.result.get("sources") if isinstance(state.result, dict) else None
    if isinstance(sources, dict):
        for name, totals in sources.items():
            deltas.add((born, user, str(name)), sign, created=1, **_source_counts(totals))
    return deltas


def _source_counts(totals: Any) -> dict[str, int]:
    """As the SQL sums them: missing numbers are 0, a non-empty error fails the source."""
    if not isinstance(totals, dict):
        return {}
    error = totals.get("error")
    return {
        "found": int(totals.get("found") or 0),
        "stored": int(totals.get("stored") or 0),
        "failed": int(error is not None and error != ""),
    }


def job_state(s: Session, job_id: str, lock: bool = True) -> Any | None:
    """The columns a job's contribution depends on; locked until the transaction ends."""
    stmt = select(*STATE).where(ScrapeJob.id == job_id)
    return s.execute(stmt.with_for_update() if lock else stmt).first()


def tracked_update(
    s: Session,
    job_id: str,
    stmt: Update,
    values: Mapping[str, Any],
    assets: Sequence[Asset] = (),
    params: Mapping[str, Any] | None = None,
) -> int:
    """Run `stmt` (an UPDATE of this one job) and keep the rollup right; the rows it changed.

    `assets`: rows of this job the caller inserts in the same transaction if the update
    changed the row (the completing write records the job's last files); counted here, in
    the same upsert as the job's own change, under the owner the update read. `params`: the
    statement's bind parameters, if it is one built once (its tracked forms are kept too)."""
    bound = dict(params or {})
    if not COUNTED & values.keys() and not assets:
        return int(s.execute(stmt, bound).rowcount)  # type: ignore[attr-defined]
    dialect = s.get_bind().dialect.name
    if dialect == "postgresql":  # one statement: the row locked, read, written and read back
        return _tracked_in_one(s, job_id, stmt, assets, bound)
    before = job_state(s, job_id)
    if dialect in RETURNING:  # the write itself returns the state after it
        after = s.execute(_returning_state(stmt, bool(params)), bound).all()
        if after:
            apply(s, _change(before, after[0], assets))
        return len(after)
    changed = int(s.execute(stmt, bound).rowcount)  # type: ignore[attr-defined]
    if changed:
        state = _written(before, values)
        if state is None:  # a counted column set by an SQL expression: read what it became
            state = job_state(s, job_id, lock=False)
        apply(s, _change(before, state, assets))
    return changed


def _change(before: Any | None, after: Any, assets: Sequence[Asset]) -> Deltas:
    """What a job's write changes: its contribution after minus before, plus its new assets."""
    deltas = job_counts(after).merge(job_counts(before), -1)
    for row in assets:
        _asset_counts(deltas, after.user_id, row.created_at, row.size_bytes)
    return deltas


def _written(before: Any | None, values: Mapping[str, Any]) -> Any | None:
    """The state after an update that set its counted columns to plain values (the row is
    locked by `job_state`, so nothing else changed it), without reading it back (MariaDB has
    no `UPDATE … RETURNING`); None if one is an SQL expression or there was no row."""
    if before is None or any(isinstance(values[k], ClauseElement) for k in COUNTED & values.keys()):
        return None
    state = {c.key: getattr(before, c.key) for c in STATE}
    state.update((k, values[k]) for k in COUNTED & values.keys())
    return SimpleNamespace(**state)


def _tracked_in_one(
    s: Session, job_id: str, stmt: Update, assets: Sequence[Asset], params: dict[str, Any]
) -> int:
    """`tracked_update` in one statement (PostgreSQL): `UPDATE … FROM (SELECT … FOR UPDATE)
    RETURNING` the state before and after. The subquery locks the row and reads its newest
    version; the update, re-checking its guard on that version, returns both."""
    tracked = _locked_before(stmt, bool(params))
    rows = s.connection().execute(tracked, {**params, "tracked_job": job_id}).all()
    if rows:
        record_change(s, rows[0], assets)
    return len(rows)


def record_change(s: Session, row: Sequence[Any], assets: Sequence[Asset] = ()) -> None:
    """Count a tracked write from the row it returned: the `STATE` before, then after (the
    columns of `_locked_before`'s RETURNING)."""
    n = len(STATE)
    was = SimpleNamespace(**dict(zip(_STATE_NAMES, row[:n], strict=True)))
    now = SimpleNamespace(**dict(zip(_STATE_NAMES, row[n : 2 * n], strict=True)))
    apply(s, _change(was, now, assets))


def _built_once(build: Callable[[Update], Update]) -> Callable[[Update, bool], Update]:
    """`build` applied to a write; kept (an LRU keyed by the write) when the write is one
    built once with its values bound (`kept`), else built anew as the write was."""
    cached = functools.lru_cache(maxsize=64)(build)

    def get(stmt: Update, kept: bool) -> Update:
        return cached(stmt) if kept else build(stmt)

    return get


def _with_before(stmt: Update) -> Update:
    old, returned = _before_and_after()
    return stmt.where(ScrapeJob.id == old.c.id).returning(*returned)


# `stmt` as `_tracked_in_one` runs it, and `stmt` returning the state after it
_locked_before = _built_once(_with_before)
_returning_state = _built_once(lambda stmt: stmt.returning(*STATE))


@functools.cache
def _before_and_after() -> tuple[Subquery, list[Any]]:
    """`_tracked_in_one`'s locking subquery (its job a bind parameter) and what it returns,
    built once: their column collections cost more CPU than the statement's execution."""
    old = (
        select(ScrapeJob.id, *STATE)
        .where(ScrapeJob.id == bindparam("tracked_job"))
        .with_for_update()
        .subquery("before")
    )
    returned = [old.c[c.key].label(f"before_{c.key}") for c in STATE] + list(STATE)
    return old, returned


def add_job(s: Session, job_id: str) -> None:
    """Count a job just inserted in this transaction."""
    apply(s, job_counts(job_state(s, job_id, lock=False)))


def add_assets(s: Session, user_id: int | None, rows: Iterable[Asset]) -> None:
    """Count asset rows inserted in this transaction (each with its `created_at` set)."""
    deltas = Deltas()
    for row in rows:
        _asset_counts(deltas, user_id, row.created_at, row.size_bytes)
    apply(s, deltas)


def _asset_counts(
    deltas: Deltas, user_id: int | None, created_at: datetime, size: int, sign: int = 1
) -> None:
    deltas.add((slot_of(created_at), _user(user_id), JOBS), sign, files=1, bytes=size)


def subtract(s: Session, jobs: Iterable[Any], assets: Iterable[Any]) -> None:
    """Take deleted rows out, as this transaction read them: `jobs` rows of `STATE` columns
    (locked before their delete), `assets` rows of (user_id, created_at, size_bytes) of the
    assets deleted (as `DELETE … RETURNING` gives them, the owner looked up by their job).
    Summed per rollup row here, one upsert per row: the deleted rows are not read again."""
    deltas = Deltas()
    for job in jobs:
        job_counts(job, deltas, -1)
    for user_id, created_at, size in assets:
        _asset_counts(deltas, user_id, created_at, size, -1)
    apply(s, deltas)


# -- many jobs, counted by the database -------------------------------------------------------


def counted(conn: Session | Connection, where: str, params: Mapping[str, Any]) -> Deltas:
    """What the jobs matching `where` (SQL on `scrape_jobs j`) contribute, with their assets,
    grouped by the database per slot and user: a few rows however many jobs. The jobs are read
    first and their assets looked up by `job_id` (CROSS JOIN fixes that order on SQLite)."""
    dialect = conn.get_bind().dialect.name if isinstance(conn, Session) else conn.dialect.name

    def slot(column: str) -> str:
        return bucket_sql(dialect, column, SLOT_START, SLOT)

    user = "coalesce(j.user_id, 0)"
    jobs = where
    finished = ", ".join(f"'{status}'" for status in _FINISHED)
    queries = {
        "created": f"SELECT {slot('j.created_at')}, {user}, 'created', count(*) "
        f"FROM scrape_jobs j WHERE {jobs} GROUP BY {slot('j.created_at')}, {user}",
        "finished": f"SELECT {slot('j.finished_at')}, {user}, j.status, count(*) "
        f"FROM scrape_jobs j WHERE ({jobs}) AND j.status IN ({finished}) "
        f"AND j.finished_at IS NOT NULL GROUP BY {slot('j.finished_at')}, {user}, j.status",
        "assets": f"SELECT {slot('a.created_at')}, {user}, count(*), sum(a.size_bytes) "
        f"FROM scrape_jobs j CROSS JOIN assets a WHERE a.job_id = j.id AND ({jobs}) "
        f"GROUP BY {slot('a.created_at')}, {user}",
        "sources": source_sql(dialect, jobs, (slot("j.created_at"), user), jobs=True),
    }
    deltas = Deltas()
    run = {name: conn.execute(_text(sql, params), params) for name, sql in queries.items()}
    for at, owner, _, count in run["created"]:
        deltas.add((_slot(at), int(owner), JOBS), created=count)
    for at, owner, status, count in run["finished"]:
        deltas.add((_slot(at), int(owner), JOBS), **{_FINISHED[status]: count})
    for at, owner, files, size in run["assets"]:
        deltas.add((_slot(at), int(owner), JOBS), files=files, bytes=size or 0)
    for at, owner, name, jobs, found, stored, failed in run["sources"]:
        key = (_slot(at), int(owner), str(name))
        deltas.add(key, created=jobs, found=found or 0, stored=stored or 0, failed=failed or 0)
    return deltas


def _text(sql: str, params: Mapping[str, Any]) -> Any:
    """Expanding parameters for the lists (`IN :ids`)."""
    stmt = text(sql)
    lists = [name for name, value in params.items() if isinstance(value, list | tuple)]
    return stmt.bindparams(*(bindparam(name, expanding=True) for name in lists))


def _slot(value: int | float | datetime) -> int:
    return bucket_number(value, SLOT_START, SLOT)


# -- writing ----------------------------------------------------------------------------------


SHARDS = 16


def writer_shard() -> int:
    """This thread's shard: two threads (or processes) adding to the same slot at once
    mostly write different rows, so neither waits for the other's commit."""
    return hash((os.getpid(), threading.get_ident())) % SHARDS


def apply(conn: Session | Connection, deltas: Deltas, shard: int | None = None) -> None:
    """Add the changes to the rollup rows of `shard` (this thread's when None), creating
    missing ones (one upsert per row)."""
    rows = deltas.nonzero()
    if not rows:
        return
    dialect = conn.get_bind().dialect.name if isinstance(conn, Session) else conn.dialect.name
    part = writer_shard() if shard is None else shard
    values = [
        {"slot": k[0], "user_id": k[1], "source": k[2], "shard": part, **counts}
        for k, counts in rows
    ]
    # On the session's connection, as one plain execute where it can be (one row; many rows
    # on PostgreSQL): the ORM's bulk path and a pipelined executemany cost more CPU than the
    # upsert itself (a completing write changes two or three rows).
    target = conn.connection() if isinstance(conn, Session) else conn
    if len(values) == 1:
        target.execute(_upsert(dialect), values[0])
    elif dialect == "postgresql":
        target.execute(_upsert_arrays(), {c: [v[c] for v in values] for c in _UPSERTED})
    else:
        target.execute(_upsert(dialect), values)


_UPSERTED = ("slot", "user_id", "source", "shard", *COUNTERS)


@functools.cache
def _upsert_arrays() -> TextClause:
    """PostgreSQL: `_upsert` of many rows in one statement, each column an array (`unnest`),
    in the order given (every writer locks rollup rows in the same order)."""
    from sqlalchemy.dialects import postgresql

    table = StatsRollup.__table__
    pg = postgresql.dialect()
    arrays = ", ".join(f"CAST(:{c} AS {table.c[c].type.compile(dialect=pg)}[])" for c in _UPSERTED)
    added = ", ".join(f"{c} = stats_rollup.{c} + excluded.{c}" for c in COUNTERS)
    return text(
        f"INSERT INTO stats_rollup ({', '.join(_UPSERTED)}) SELECT * FROM unnest({arrays}) "
        f"ON CONFLICT (slot, user_id, source, shard) DO UPDATE SET {added}"
    )


@functools.cache
def _upsert(dialect: str) -> Any:
    """INSERT … ON CONFLICT (ON DUPLICATE KEY) UPDATE counter = counter + the new value."""
    table = StatsRollup.__table__
    if dialect == "mysql":
        from sqlalchemy.dialects import mysql  # each dialect's module loads on first use

        mine = mysql.insert(StatsRollup)
        return mine.on_duplicate_key_update({c: table.c[c] + mine.inserted[c] for c in COUNTERS})
    stmt: Any
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        stmt = postgresql.insert(StatsRollup)
    else:  # SQLite: a SQLite process never imports PostgreSQL's dialect (about 40 ms)
        from sqlalchemy.dialects import sqlite

        stmt = sqlite.insert(StatsRollup)
    return stmt.on_conflict_do_update(
        index_elements=["slot", "user_id", "source", "shard"],
        set_={c: table.c[c] + stmt.excluded[c] for c in COUNTERS},
    )


# -- the backfill (migration 0009) ------------------------------------------------------------

BACKFILL_BATCH = 5000
_FROM = "j.created_at >= :since"
_UNTIL = "j.created_at < :until"


@contextmanager
def _transaction(conn: Connection) -> Iterator[None]:
    """One transaction per batch on an autocommit connection (a migration's autocommit block:
    SQLite would otherwise commit, and sync, every row); the caller's transaction otherwise."""
    if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
        yield
        return
    conn.exec_driver_sql("BEGIN")
    try:
        yield
    except BaseException:
        conn.exec_driver_sql("ROLLBACK")
        raise
    conn.exec_driver_sql("COMMIT")


def backfill(conn: Connection, batch: int = BACKFILL_BATCH) -> int:
    """Count every job and asset into an empty rollup, about `batch` jobs at a time in creation
    order, each batch a short transaction over a plain range of the `(created_at, id)` index (no
    lock on the jobs); how many jobs it counted. Creation order keeps a batch's counters in a
    few slots (in id order every batch wrote every slot's); a batch is a half-open time range,
    so jobs created at the same instant are never split."""
    since: Any = None
    done = 0
    while True:
        until = _boundary(conn, since, batch)
        where = " AND ".join(
            ([_FROM] if since is not None else []) + ([_UNTIL] if until is not None else [])
        )
        params = {"since": since, "until": until}
        with _transaction(conn):
            deltas = counted(conn, where or "j.id IS NOT NULL", params)
            apply(conn, deltas)
        done += sum(c["created"] for (_, _, source), c in deltas.rows.items() if source == JOBS)
        if until is None:
            return done
        since = until


def _boundary(conn: Connection, since: Any, batch: int) -> Any:
    """The creation time `batch` jobs after `since` (None: fewer are left), past `since` even
    when more than `batch` jobs share that instant. The stored value, passed back as is."""
    after = "WHERE j.created_at >= :since " if since is not None else ""
    page = f"SELECT j.created_at FROM scrape_jobs j {after}ORDER BY j.created_at"
    found = conn.execute(text(f"{page} LIMIT 1 OFFSET {int(batch)}"), {"since": since}).scalar()
    if found is None or since is None or found != since:
        return found
    later = "SELECT min(j.created_at) FROM scrape_jobs j WHERE j.created_at > :since"
    return conn.execute(text(later), {"since": since}).scalar()
