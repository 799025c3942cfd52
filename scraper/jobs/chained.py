"""A busy worker's completing write on PostgreSQL as one statement: the fenced update of its
job, the job's last asset rows and the claim of its next job, as data-modifying CTEs.

Each part keeps its guarantee: the update is the fenced write `tracked_update` runs (the row
locked and read by a subquery, RETURNING its state before and after, which the rollup upsert
that follows counts); the asset rows are inserted only if that update changed the row (a
refused completion writes nothing); the claim is the claim statement itself (`FOR UPDATE SKIP
LOCKED` of a pending job: never the job being completed, which is running) and claims whether
or not the completion was refused. A duplicate asset fails the whole statement, as it failed
the transaction before. Three statements become one: two round trips per job fewer.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import (
    Select,
    Table,
    Update,
    bindparam,
    exists,
    insert,
    select,
    true,
    union_all,
)
from sqlalchemy.orm import Session

from scraper import rollup
from scraper.jobs.record import JobRecord
from scraper.models import Asset, ScrapeJob

MAX_ASSETS = 8  # more rows than this in a completing write: the statements one by one


def usable(s: Session, params: Mapping[str, Any], assets: Sequence[Asset]) -> bool:
    """Whether `complete_and_claim` can run this write: PostgreSQL, a write built once (its
    values bound), few assets, and no `do_orm_execute` hook that must see the asset insert
    (`ops doctor`'s probe numbers the rows it writes)."""
    return (
        bool(params)
        and len(assets) <= MAX_ASSETS
        and not s.dispatch.do_orm_execute
        and s.get_bind().dialect.name == "postgresql"
    )


def complete_and_claim(
    s: Session,
    job_id: str,
    stmt: Update,
    params: Mapping[str, Any],
    assets: Sequence[Asset],
    claim: Update,
    claim_params: Mapping[str, Any],
) -> tuple[bool, JobRecord | None]:
    """Run the fenced write `stmt` (bound by `params`), insert `assets` if it changed the
    row, and run `claim`, in one statement; count the write in the rollup. Whether the write
    changed the row, and the job claimed."""
    bound = {**params, **claim_params, "tracked_job": job_id}
    for i, asset in enumerate(assets):
        bound.update((f"a{i}_{c}", getattr(asset, c)) for c in _ASSET_COLUMNS)
    row = s.connection().execute(_statement(stmt, claim, len(assets)), bound).first()
    if row is None:  # neither written nor claimed
        return False, None
    changed = row[_AFTER_STATUS] is not None  # NULL when the write was refused
    if changed:
        rollup.record_change(s, row, assets)
    next_job = row[_CLAIMED:]
    if next_job[0] is None:  # its id
        return changed, None
    claimed = SimpleNamespace(**dict(zip(_JOB_COLUMNS, next_job, strict=True)))
    return changed, JobRecord.from_row(claimed)  # type: ignore[arg-type]


_ASSET_COLUMNS = [c.key for c in Asset.__table__.columns if c.key != "id"]
_JOB_COLUMNS = [c.key for c in ScrapeJob.__table__.columns]
# A row of `_statement`: the written job's state before and after, then the claimed job's row.
_AFTER_STATUS = len(rollup.STATE) + [c.key for c in rollup.STATE].index("status")
_CLAIMED = 2 * len(rollup.STATE)


@functools.lru_cache(maxsize=64)
def _statement(stmt: Update, claim: Update, n_assets: int) -> Select[Any]:
    """`WITH done AS (the write), added AS (INSERT … WHERE EXISTS (done)), n AS (the claim)
    SELECT done's state before and after, n's row FROM done FULL JOIN n ON true`: one row,
    NULLs for the part that matched nothing (no row if neither did). Built once per write and
    number of assets."""
    done = rollup.locked_before(stmt).cte("done")
    claimed = claim.cte("n")
    # Short names, columns unlabelled and read by position: psycopg converts a statement of
    # over 4096 characters again on every execution (not cached), ~0.5 ms of CPU a job.
    query = select(*done.c, *claimed.c).select_from(done.outerjoin(claimed, true(), full=True))
    if n_assets:
        query = query.add_cte(_asset_insert(done, n_assets))
    return query


def _asset_insert(done: Any, n: int) -> Any:
    """`n` asset rows (bind parameters `a{i}_{column}`), inserted if `done` has a row."""
    table = cast(Table, Asset.__table__)
    written = exists(select(done.c.status))
    rows = [
        select(*[bindparam(f"a{i}_{c}", type_=table.c[c].type) for c in _ASSET_COLUMNS]).where(
            written
        )
        for i in range(n)
    ]
    source = rows[0] if n == 1 else union_all(*rows)
    return insert(table).from_select(_ASSET_COLUMNS, source).cte("added")
