"""A busy worker's completing write on PostgreSQL as one autocommitted statement: the fenced
update of its job, the job's last asset rows, the rollup's count of both and the claim of its
next job, as data-modifying CTEs.

Each part keeps its guarantee: the update is the fenced write `tracked_update` runs (the row
locked and read by a subquery, RETURNING its state before and after); the asset rows are
inserted, and the rollup counts the change (`scraper.rollup.inline`, the same differences as
`rollup.tracked_update`), only if that update changed the row (a refused completion writes
nothing); the claim is the claim statement itself (`FOR UPDATE SKIP LOCKED` of a pending job:
never the job being completed, which is running) and claims whether or not the completion
was refused. A duplicate asset fails the whole statement, as it failed the transaction
before. One statement in autocommit: no BEGIN and no COMMIT round trip, one round trip a job.

The statement is SQL text built once per set of columns written and number of assets, short
enough (< 4096 characters, < 50 parameters with one asset) for psycopg to keep it converted
and prepared: a longer one is converted again on every execution, ~0.5 ms of CPU a job.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence, Sized
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import JSON, Dialect, Engine, Table, TextClause, bindparam, column, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from scraper import rollup
from scraper.jobs.record import JobRecord
from scraper.models import Asset, JobStatus, ScrapeJob, UTCDateTime, utcnow
from scraper.rollup.inline import BEFORE, change_ctes

MAX_ASSETS = 8  # more rows than this in a completing write: the statements one by one


def _engine(factory: sessionmaker[Session]) -> Engine:
    engine: Engine = factory.kw["bind"]
    return engine


def usable(factory: sessionmaker[Session], params: Mapping[str, Any], assets: Sized) -> bool:
    """Whether `complete_and_claim` can run this write: PostgreSQL, a write built once (its
    values bound), few assets, and no `do_orm_execute` hook on the factory's sessions that
    must see the asset insert (`ops doctor`'s probe numbers the rows it writes)."""
    if not params or len(assets) > MAX_ASSETS or _engine(factory).dialect.name != "postgresql":
        return False
    with factory() as s:  # the hooks a session of the factory has (~20 µs, no connection)
        return not s.dispatch.do_orm_execute


def complete_and_claim(
    factory: sessionmaker[Session],
    params: Mapping[str, Any],
    assets: Sequence[Asset],
    claim_params: Mapping[str, Any],
) -> tuple[bool, JobRecord | None]:
    """Run the fenced write that `params` bind (`store._fenced`'s: `set_<column>` values,
    `fence_job`, `fence_worker`, `fence_token`), insert `assets` and count both in the rollup
    if it changed the row, and claim the next job (`store._claim_params`), as one statement
    on a connection of the factory's engine in autocommit (no session: nothing is loaded).
    Whether the write changed the row, and the job claimed."""
    columns = tuple(sorted(k[4:] for k in params if k.startswith("set_")))
    bound = {**params, **claim_params, "shard": rollup.writer_shard()}
    for i, asset in enumerate(assets):  # as `fence.fresh_copy` writes them, its time set now
        bound.update((f"a{i}_{c}", getattr(asset, c)) for c in _ASSET_COLUMNS)
        bound[f"a{i}_created_at"] = asset.created_at or utcnow()
    engine = _engine(factory)
    driver = _driver_statement(engine.dialect, columns, "fence_token" in params, len(assets))
    row = _run(engine, driver.sql, driver.bind(bound))
    if row is None:  # neither written nor claimed
        return False, None
    changed = row[0] is not None  # the written job's status; NULL when the write was refused
    if row[1] is None:  # no job claimed
        return changed, None
    return changed, JobRecord.from_row(driver.load(row[1]))  # type: ignore[arg-type]


def _run(engine: Engine, sql: str, params: Mapping[str, Any]) -> Any:
    """The statement's one row (or None), run by psycopg itself on a pooled connection in
    autocommit: a job's one round trip without SQLAlchemy's per-execution work around it (a
    `Connection`, the switch to autocommit and back through the dialect, the result's set-up:
    ~0.15 ms of CPU a job, a tenth of a no-op job's). The pool's checkout and checkin events
    still run (the listener, the ping after idle); SQLAlchemy's cursor events do not see it.

    A driver error is raised as SQLAlchemy's (`IntegrityError`, `OperationalError`, ...: the
    callers' retries and outage handling read those), and a connection the dialect calls lost
    is invalidated, as `Connection.execute` does."""
    dialect = engine.dialect
    raw = engine.raw_connection()
    try:
        driver: Any = raw.driver_connection  # psycopg's Connection
        driver.autocommit = True  # no BEGIN and no COMMIT: one statement, its own transaction
        try:
            with driver.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchone()
        except dialect.loaded_dbapi.Error as exc:
            lost = dialect.is_disconnect(exc, raw.dbapi_connection, None)
            if lost:
                raw.invalidate(exc)
            raise DBAPIError.instance(
                sql,
                dict(params),
                exc,
                dialect.loaded_dbapi.Error,
                connection_invalidated=lost,
                dialect=dialect,
            ) from exc
        finally:
            if raw.is_valid:
                driver.autocommit = False
    finally:
        raw.close()


@dataclass(frozen=True)
class _DriverStatement:
    """`_statement` compiled for a dialect, with its types' bind and result processors: run
    by the driver (`_run`), what SQLAlchemy's execution of the text would do per statement,
    without its per-execution work (about 0.3 ms of CPU a job: cache key, parameter and
    result-metadata handling)."""

    sql: str
    binds: Mapping[str, Callable[[Any], Any] | None]
    stamps: Mapping[str, Callable[[Any], Any] | None]  # the claimed row's time columns

    def bind(self, values: Mapping[str, Any]) -> dict[str, Any]:
        out = {}
        for name, process in self.binds.items():
            value = values[name]
            out[name] = process(value) if process is not None else value
        return out

    def load(self, claimed: Any) -> SimpleNamespace:
        """The claimed job's row from its JSON (`to_json(n)`: one column, not one per
        column of the table, each of which costs CPU on every execution): its times from
        ISO 8601 through their type's processor, the rest as JSON gives them."""
        row = json.loads(claimed) if isinstance(claimed, str) else dict(claimed)
        for name, process in self.stamps.items():
            value = row[name]
            if value is not None:
                value = datetime.fromisoformat(value)
                row[name] = process(value) if process is not None else value
        return SimpleNamespace(**row)


@functools.lru_cache(maxsize=64)
def _driver_statement(
    dialect: Dialect, columns: tuple[str, ...], token: bool, n_assets: int
) -> _DriverStatement:
    compiled = _statement(columns, token, n_assets).compile(dialect=dialect)
    binds = {
        name: param.type._cached_bind_processor(dialect) for name, param in compiled.binds.items()
    }
    stamps = {
        c.key: c.type._cached_result_processor(dialect, None)
        for c in _TABLE.columns
        if isinstance(c.type, UTCDateTime)
    }
    return _DriverStatement(str(compiled), binds, stamps)


_TABLE = cast(Table, ScrapeJob.__table__)
_ASSETS = cast(Table, Asset.__table__)
_ASSET_COLUMNS = [c.key for c in _ASSETS.columns if c.key != "id"]
_JOB_COLUMNS = [c.key for c in _TABLE.columns]
_STATE = [c.key for c in rollup.STATE]
_RUNNING, _PENDING = JobStatus.RUNNING.value, JobStatus.PENDING.value


@functools.lru_cache(maxsize=64)
def _statement(columns: tuple[str, ...], token: bool, n_assets: int) -> TextClause:
    """`WITH done AS (the fenced write), n AS (the claim), added AS (INSERT … WHERE EXISTS
    (done)), v, d, r AS (the rollup upsert) SELECT done's status, n's row FROM done FULL JOIN
    n ON true`: one row, NULLs for the part that matched nothing (no row if neither did).
    Built once per set of columns written and number of assets."""
    state = ", ".join(f"b.{c} {BEFORE}{c}" for c in _STATE)
    fence = f"j.status = '{_RUNNING}' AND j.locked_by = :fence_worker"
    if token:
        fence += " AND j.lease_token = :fence_token"
    sets = ", ".join(f"{c} = :set_{c}" for c in columns)
    done = (
        f"done AS (UPDATE scrape_jobs j SET {sets} FROM (SELECT id, {', '.join(_STATE)} "
        "FROM scrape_jobs WHERE id = :fence_job FOR UPDATE) b "
        f"WHERE j.id = b.id AND {fence} RETURNING {state}, "
        f"{', '.join('j.' + c for c in _STATE)})"
    )
    stamp = ":claim_now"
    # By its primary key alone, as `store._claim_statement` on PostgreSQL (why: there).
    claim = (
        f"n AS (UPDATE scrape_jobs SET status = '{_RUNNING}', locked_by = :claim_worker, "
        "lease_expires_at = :claim_expires, "
        f"started_at = coalesce(started_at, {stamp}), attempts = attempts + 1, "
        "lease_token = lease_token + 1, message = :claim_message, "
        f"updated_at = {stamp} WHERE id = (SELECT id FROM scrape_jobs WHERE status = '{_PENDING}' "
        f"AND (run_after IS NULL OR run_after <= {stamp}) ORDER BY created_at, id LIMIT 1 "
        f"FOR UPDATE SKIP LOCKED) RETURNING {', '.join(_JOB_COLUMNS)})"
    )
    ctes = [done, claim]
    if n_assets:
        rows = ", ".join(
            "(" + ", ".join(f":a{i}_{c}" for c in _ASSET_COLUMNS) + ")" for i in range(n_assets)
        )
        ctes.append(
            f"added AS (INSERT INTO assets ({', '.join(_ASSET_COLUMNS)}) SELECT * FROM "
            f"(VALUES {rows}) a WHERE EXISTS (SELECT FROM done))"
        )
    # Each bind parameter is rendered with its type's cast (`%(a0_size_bytes)s::BIGINT`).
    sizes = [(f":a{i}_created_at", f":a{i}_size_bytes") for i in range(n_assets)]
    ctes.append(change_ctes("done", sizes, ":shard"))
    # Only what the caller reads: every column of a result costs CPU on every execution.
    sql = f"WITH {', '.join(ctes)} SELECT done.status, to_json(n) FROM done FULL JOIN n ON true"
    binds = [bindparam(f"set_{c}", type_=_TABLE.c[c].type) for c in columns]
    binds += [
        bindparam(name, type_=_TABLE.c.updated_at.type) for name in ("claim_now", "claim_expires")
    ]
    binds += [
        bindparam(f"a{i}_{c}", type_=_ASSETS.c[c].type)
        for i in range(n_assets)
        for c in _ASSET_COLUMNS
    ]
    returned = [column("status", _TABLE.c.status.type), column("to_json", JSON)]
    return text(sql).bindparams(*binds).columns(*returned)  # type: ignore[return-value]
