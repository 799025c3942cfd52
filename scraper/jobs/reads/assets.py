"""Pages of assets, newest first: each an index range, its total capped like the jobs'.

An unfiltered page walks the primary key backward (no join: every asset has its job); one
job's assets are that job's index range; one user's are found through their jobs. Paging is
keyset (`after`: the last asset id of the previous page) or, for old links, OFFSET. The
total is exact up to counting.EXACT_LIMIT and estimated beyond: the planner's estimate on
PostgreSQL and MariaDB, on SQLite the share of the newest SAMPLE asset ids that match, times
the id range (an exact count of 10 M assets took seconds on every database).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, func, literal, select
from sqlalchemy.orm import Session, sessionmaker

from scraper.jobs.assets import AssetRecord
from scraper.jobs.reads.counting import EXACT_LIMIT, SAMPLE, Total, key_range
from scraper.jobs.reads.keyset import InvalidCursor, seal, unseal
from scraper.models import Asset, ScrapeJob
from scraper.planner import estimate

ASSET_CURSOR = b"scraper-asset-cursor:"
VERSION = 1


@dataclass(frozen=True)
class AssetPage:
    """A page of assets; `next_after` is the id the next page starts below (None: last)."""

    assets: list[AssetRecord]
    total: int
    estimated: bool = False
    next_after: int | None = None

    @property
    def next_cursor(self) -> str | None:
        return None if self.next_after is None else seal(ASSET_CURSOR, [VERSION, self.next_after])


def asset_cursor_position(cursor: str) -> int:
    """The asset id a `cursor` from `next_cursor` names; InvalidCursor if we did not make it."""
    body = unseal(ASSET_CURSOR, cursor)
    if not (isinstance(body, list) and len(body) == 2 and body[0] == VERSION):
        raise InvalidCursor("not an asset cursor this service made (malformed)")
    after = body[1]
    if not isinstance(after, int) or isinstance(after, bool) or after < 1:
        raise InvalidCursor("not an asset cursor this service made (bad values)")
    return after


def list_assets(
    session_factory: sessionmaker[Session],
    job_id: str | None = None,
    user_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
    after: int | None = None,
) -> AssetPage:
    """One page of assets, newest first, from `offset` or below the id `after`; `user_id`
    restricts to that user's jobs."""
    conditions = _conditions(job_id, user_id)
    page = _matching(conditions, user_id).order_by(Asset.id.desc())
    if after is not None:
        page = page.where(Asset.id < after)
    with session_factory() as s:
        rows = list(s.scalars(page.limit(limit + 1).offset(0 if after else offset)))
        first = after is None and offset == 0
        if first and len(rows) <= limit:  # every match is on the page: its own total
            total = Total(len(rows))
        else:
            total = _count(s, conditions, user_id, exact=job_id is not None)
    more = len(rows) > limit
    records = [AssetRecord.from_row(r) for r in rows[:limit]]
    return AssetPage(records, total.count, total.estimated, records[-1].id if more else None)


def _conditions(job_id: str | None, user_id: int | None) -> list[ColumnElement[bool]]:
    conditions = []
    if job_id is not None:
        conditions.append(Asset.job_id == job_id)
    if user_id is not None:
        conditions.append(ScrapeJob.user_id == user_id)
    return conditions


def _matching(
    conditions: list[ColumnElement[bool]], user_id: int | None, *columns: Any
) -> Select[Any]:
    """`columns` (the asset) of the assets matching, joined to their jobs only when the
    owner is asked."""
    stmt = select(*(columns or (Asset,))).select_from(Asset)
    if user_id is not None:
        stmt = stmt.join(ScrapeJob, ScrapeJob.id == Asset.job_id)
    return stmt.where(*conditions)


def _count(
    session: Session, conditions: list[ColumnElement[bool]], user_id: int | None, exact: bool
) -> Total:
    """Exact up to EXACT_LIMIT (one job's assets: always exact, its index range), estimated
    beyond, never below."""
    rows = _matching(conditions, user_id, literal(1))
    if exact:
        return Total(int(session.scalar(select(func.count()).select_from(rows.subquery())) or 0))
    capped = rows.limit(EXACT_LIMIT + 1).subquery()
    counted = int(session.scalar(select(func.count()).select_from(capped)) or 0)
    if counted <= EXACT_LIMIT:
        return Total(counted)
    if session.get_bind().dialect.name in ("postgresql", "mysql"):
        guess = estimate(session, rows)
    else:
        guess = _sampled(session, user_id)
    return Total(max(guess, EXACT_LIMIT + 1), estimated=True)


def _sampled(session: Session, user_id: int | None) -> int:
    """SQLite: the id range of the assets, times the share of the newest SAMPLE that are
    `user_id`'s (one primary-key range, a job lookup each)."""
    low, high = key_range(session, Asset.__table__.c.id, Asset.__table__)
    if low is None or high is None:
        return 0
    span = int(high) - int(low) + 1
    if user_id is None:
        return span
    newest = select(Asset.job_id).where(Asset.id > high - SAMPLE).subquery()
    owned = select(func.count()).select_from(newest)
    owned = owned.join(ScrapeJob, ScrapeJob.id == newest.c.job_id).where(
        ScrapeJob.user_id == user_id
    )
    hits = int(session.scalar(owned) or 0)
    return round(hits * span / min(SAMPLE, span))
