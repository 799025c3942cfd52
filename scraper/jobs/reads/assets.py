"""Pages of assets, newest job first: each page an index range of the jobs, then their assets.

Assets are listed by their job, newest job first (the jobs' `(created_at, id)` order, as the
jobs list), and inside a job newest asset first. A page reads the next batch of jobs the
caller may see (one range of `(created_at, id)` or, for one user, `(user_id, created_at)`),
then those jobs' assets by `job_id`: the cost of a page does not depend on how many assets
there are or on the user's share of them. (Ordered by asset id alone, one user's page either
walked the assets' primary key past everyone else's, 3.1 s for a user with 0.1 % of 2.4 M
assets, or sorted all of the user's assets.) Paging is keyset (a cursor naming the last job
and asset) or, for old links, OFFSET. The total is exact up to counting.EXACT_LIMIT and
estimated beyond: the planner's estimate on PostgreSQL and MariaDB, on SQLite the share of
the newest SAMPLE asset ids that match, times the id range.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, literal, select
from sqlalchemy.orm import Session, sessionmaker

from scraper.jobs.assets import AssetRecord
from scraper.jobs.reads.counting import EXACT_LIMIT, SAMPLE, Total, key_range, past_cap
from scraper.jobs.reads.keyset import InvalidCursor, Position, past, seal, unseal
from scraper.models import Asset, ScrapeJob
from scraper.planner import estimate

ASSET_CURSOR = b"scraper-asset-cursor:"
VERSION = 2
JOB_BATCH = 100  # jobs read per round
ROUNDS = 20  # rounds per page at most: a long run of jobs without assets ends a short page
JOBS = ScrapeJob.__table__
ASSETS = Asset.__table__


@dataclass(frozen=True)
class AssetPosition:
    """Just after asset `asset_id` of the job (`created_at`, `job_id`); `asset_id` None: after
    the whole job."""

    created_at: datetime
    job_id: str
    asset_id: int | None = None

    @property
    def cursor(self) -> str:
        body = [VERSION, self.created_at.isoformat(), self.job_id, self.asset_id]
        return seal(ASSET_CURSOR, body)


@dataclass(frozen=True)
class AssetPage:
    """A page of assets; `after` is where the next page starts (None: this is the last)."""

    assets: list[AssetRecord]
    total: int
    estimated: bool = False
    after: AssetPosition | None = None

    @property
    def next_cursor(self) -> str | None:
        return None if self.after is None else self.after.cursor


def asset_position(cursor: str) -> AssetPosition:
    """The position a `next_cursor` of `/api/assets` names; InvalidCursor if we did not make
    it (a jobs cursor included)."""
    body = unseal(ASSET_CURSOR, cursor)
    try:
        version, when, job_id, asset_id = body
        created = datetime.fromisoformat(when)
    except (ValueError, TypeError):
        raise InvalidCursor("not an asset cursor this service made (malformed)") from None
    if version != VERSION:
        raise InvalidCursor(f"made by another version ({version!r}); start from the first page")
    whole = asset_id is None or (isinstance(asset_id, int) and not isinstance(asset_id, bool))
    if not (isinstance(job_id, str) and whole and created.tzinfo is not None):
        raise InvalidCursor("not an asset cursor this service made (bad values)")
    return AssetPosition(created, job_id, asset_id)


def list_assets(
    session_factory: sessionmaker[Session],
    job_id: str | None = None,
    user_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
    after: AssetPosition | None = None,
) -> AssetPage:
    """One page of the assets of the jobs `job_id` and `user_id` select (None: any), from
    `offset` or after `after`."""
    jobs = _job_conditions(job_id, user_id)
    with session_factory() as s:
        if after is None and offset > 0:
            rows, more = _offset_page(s, jobs, limit, offset)
        else:
            rows, more = _keyset_page(s, jobs, after, limit)
        first = after is None and offset == 0
        if first and more is None:  # every match is on the page: its own total
            total = Total(len(rows))
        else:
            total = _count(s, jobs, exact=job_id is not None)
    records = [AssetRecord.from_row(asset) for asset, _ in rows]
    # a first page its exact count says holds them all, though the jobs' walk stopped short
    if more is None or (first and not total.estimated and total.count <= len(records)):
        position = None
    elif len(rows) == 0 or rows[-1][1] != more:  # the page ended on a job's last asset read
        position = AssetPosition(more.created_at, more.id)
    else:
        position = AssetPosition(more.created_at, more.id, rows[-1][0].id)
    return AssetPage(records, total.count, total.estimated, position)


def _job_conditions(job_id: str | None, user_id: int | None) -> list[ColumnElement[bool]]:
    conditions = []
    if job_id is not None:
        conditions.append(JOBS.c.id == job_id)
    if user_id is not None:
        conditions.append(JOBS.c.user_id == user_id)
    return conditions


@dataclass(frozen=True)
class _Job:
    id: str
    created_at: datetime


def _keyset_page(
    s: Session, jobs: Sequence[ColumnElement[bool]], after: AssetPosition | None, limit: int
) -> tuple[list[tuple[Asset, _Job]], _Job | None]:
    """Up to `limit` (asset, its job) pairs after `after`, and the job the next page starts
    in or after (None: none follows)."""
    rows: list[tuple[Asset, _Job]] = []
    start = None
    if after is not None:
        start = _Job(after.job_id, after.created_at)
        if after.asset_id is not None:  # the rest of the job the last page ended in
            rest = _assets_of(s, [start], below=after.asset_id, want=limit + 1)
            if len(rest) > limit:
                return rest[:limit], start
            rows += rest
    for _ in range(ROUNDS):
        batch = _next_jobs(s, jobs, start)
        rows += _assets_of(s, batch, want=limit + 1 - len(rows))
        if len(rows) > limit:
            return rows[:limit], rows[limit - 1][1]
        if len(batch) < JOB_BATCH:
            return rows, None
        start = batch[-1]
    return rows, start  # a short page: many jobs without assets; the cursor goes on past them


def _next_jobs(s: Session, jobs: Sequence[ColumnElement[bool]], start: _Job | None) -> list[_Job]:
    """The next JOB_BATCH jobs newest first after `start`: one index range."""
    stmt = select(JOBS.c.id, JOBS.c.created_at).where(*jobs)
    if start is not None:
        stmt = stmt.where(
            *past(s, Position("-created_at", 0, None, start.created_at, start.id), True)
        )
    stmt = stmt.order_by(JOBS.c.created_at.desc(), JOBS.c.id.desc()).limit(JOB_BATCH)
    return [_Job(row.id, row.created_at) for row in s.execute(stmt)]


def _assets_of(
    s: Session, batch: list[_Job], want: int, below: int | None = None
) -> list[tuple[Asset, _Job]]:
    """Up to `want` assets of these jobs, in the jobs' order, each job's newest first."""
    if not batch or want <= 0:
        return []
    stmt = select(Asset).where(Asset.job_id.in_([job.id for job in batch]))
    if below is not None:
        stmt = stmt.where(Asset.id < below)
    place = {job.id: n for n, job in enumerate(batch)}
    found = sorted(s.scalars(stmt), key=lambda a: (place[a.job_id], -a.id))
    by_id = {job.id: job for job in batch}
    return [(asset, by_id[asset.job_id]) for asset in found[:want]]


def _offset_page(
    s: Session, jobs: Sequence[ColumnElement[bool]], limit: int, offset: int
) -> tuple[list[tuple[Asset, _Job]], _Job | None]:
    """OFFSET paging in the same order (old links; the job page's numbered pages)."""
    stmt = (
        select(Asset, JOBS.c.created_at)
        .join(JOBS, JOBS.c.id == Asset.job_id)
        .where(*jobs)
        .order_by(JOBS.c.created_at.desc(), JOBS.c.id.desc(), Asset.id.desc())
        .limit(limit + 1)
        .offset(offset)
    )
    rows = [(asset, _Job(asset.job_id, created)) for asset, created in s.execute(stmt)]
    return rows[:limit], rows[limit - 1][1] if len(rows) > limit else None


def _matching(jobs: Sequence[ColumnElement[bool]]) -> Select[Any]:
    """A row per matching asset, joined to its job only when the jobs are filtered."""
    stmt = select(literal(1)).select_from(ASSETS)
    if jobs:
        stmt = stmt.join(JOBS, JOBS.c.id == ASSETS.c.job_id).where(*jobs)
    return stmt


def _count(s: Session, jobs: Sequence[ColumnElement[bool]], exact: bool) -> Total:
    """Exact up to EXACT_LIMIT (one job's assets: always exact, its index range), estimated
    beyond, never below."""
    rows = _matching(jobs)
    if exact:
        return Total(int(s.scalar(select(func.count()).select_from(rows.subquery())) or 0))
    capped = rows.limit(EXACT_LIMIT + 1).subquery()
    counted = int(s.scalar(select(func.count()).select_from(capped)) or 0)
    if counted <= EXACT_LIMIT:
        return Total(counted)
    if s.get_bind().dialect.name in ("postgresql", "mysql"):
        return past_cap(estimate(s, rows), EXACT_LIMIT)
    return past_cap(_sampled(s, jobs), EXACT_LIMIT)


def _sampled(s: Session, jobs: Sequence[ColumnElement[bool]]) -> int:
    """SQLite: the id range of the assets, times the share of the newest SAMPLE whose job
    matches (one primary-key range, a job lookup each)."""
    low, high = key_range(s, ASSETS.c.id, ASSETS)
    if low is None or high is None:
        return 0
    span = int(high) - int(low) + 1
    if not jobs:
        return span
    newest = select(ASSETS.c.job_id).where(ASSETS.c.id > high - SAMPLE).subquery()
    owned = select(func.count()).select_from(newest.join(JOBS, JOBS.c.id == newest.c.job_id))
    hits = int(s.scalar(owned.where(*jobs)) or 0)
    return round(hits * span / min(SAMPLE, span))
