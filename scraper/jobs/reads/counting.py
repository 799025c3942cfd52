"""How many jobs match: exact up to EXACT_LIMIT, a planner's estimate beyond.

The exact count reads at most EXACT_LIMIT + 1 index entries (`SELECT count(*) FROM (SELECT 1
... LIMIT n)`); past it PostgreSQL's and MariaDB's EXPLAIN give the planner's row estimate
(statistics, not a scan). SQLite has no such estimate: a count driven by the FTS index
(a common `q`) is extrapolated from where its capped read stopped, any other from the share
of the newest SAMPLE jobs that match (one rowid range; an exact count of 850,000 `completed`
jobs took 276 ms at 1 M).

PostgreSQL's `q` (`estimate_first`): the trigram GIN index answers with a bitmap of every
match, so a count capped at 10,001 still reads all of a common q's postings (or, when the
planner expects matches to be dense, scans the table until the 10,001st: 153 ms at 5 M jobs
for one job in ten). Its planner estimate comes first (EXPLAIN, no rows read); above both
ESTIMATE_FIRST and ESTIMATE_SHARE of the table it is the total, and only a smaller one is
counted. The planner estimates `ILIKE '%q%'` from the share of the column's histogram
bounds (about 100) that match: steps of 1 % of the table, so one bound matching by chance
says 50,000 at 5 M jobs for a q that 8,000 match (measured at 1 M: 3,999 matches of `123`
estimated 10,101). Three bounds (3 %) of a q under 10,000 at 5 M (0.2 %) is improbable
(about 0.1 %), and five (50,000 at 1 M) of one under 1 %.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    func,
    literal,
    select,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.util import ClauseAdapter
from sqlalchemy.sql.visitors import iterate

from scraper.models import ScrapeJob
from scraper.planner import estimate
from scraper.textsearch import ROWID, Driver

EXACT_LIMIT = 10_000
SAMPLE = 10_000  # SQLite: rows an estimate past EXACT_LIMIT reads
ESTIMATE_FIRST = 50_000  # PostgreSQL `q`: an estimate above this and
ESTIMATE_SHARE = 0.03  # this share of the table is the total, uncounted
TABLE = ScrapeJob.__table__
TABLE_ESTIMATE = "scraper_jobs_estimate"  # session.info key: `_table`'s answer


@dataclass(frozen=True)
class Total:
    """A count and whether it is the planner's estimate rather than exact."""

    count: int
    estimated: bool = False


def count_jobs(
    session: Session,
    conditions: Sequence[ColumnElement[bool]],
    exact_limit: int = EXACT_LIMIT,
    driver: Driver | None = None,
    estimate_first: bool = False,
) -> Total:
    """Jobs matching `conditions`: exact up to `exact_limit`, estimated beyond (never below).

    With a `driver` (scraper.textsearch: a `q` whose matches are many), the rows are read
    from the driver's index, joined to the jobs in that order (MariaDB: STRAIGHT_JOIN).
    With `estimate_first` (PostgreSQL's `q`; a state's jobs on PostgreSQL and MariaDB), an
    estimate above ESTIMATE_FIRST and ESTIMATE_SHARE of the table is the total and nothing
    is counted."""
    rows = _rows(conditions, driver)
    dialect = session.get_bind().dialect.name
    planned = estimate_first and dialect in ("postgresql", "mysql")
    first = guess(session, conditions, driver, exact_limit) if planned else Guess(0)
    if first.trusted:
        return Total(first.rows, estimated=True)
    position = literal(1) if driver is None or driver.position is None else driver.position
    capped = rows.with_only_columns(position.label("at")).limit(exact_limit + 1).subquery()
    exact, last = session.execute(select(func.count(), func.max(capped.c.at))).one()
    if exact <= exact_limit:
        return Total(int(exact))
    if dialect in ("postgresql", "mysql"):
        return past_cap(first.rows or estimate(session, rows), exact_limit)
    if driver is not None and driver.position is not None:
        return past_cap(_extrapolate(session, int(exact), int(last)), exact_limit)
    return past_cap(_sampled(session, conditions), exact_limit)


@dataclass(frozen=True)
class Guess:
    """The planner's row estimate; `trusted` when it is above ESTIMATE_FIRST, `exact_limit`
    and ESTIMATE_SHARE of the table: then it is the total, and nothing is counted."""

    rows: int
    trusted: bool = False


def guess(
    session: Session,
    conditions: Sequence[ColumnElement[bool]],
    driver: Driver | None = None,
    exact_limit: int = EXACT_LIMIT,
) -> Guess:
    """The planner's estimate of the jobs matching `conditions` (one EXPLAIN, no rows read;
    PostgreSQL or MariaDB)."""
    return trust(session, estimate(session, _rows(conditions, driver)), exact_limit)


def trust(session: Session, rows: int, exact_limit: int = EXACT_LIMIT) -> Guess:
    """A planner's estimate, trusted as the total when it is above the bar."""
    large = rows > max(ESTIMATE_FIRST, exact_limit)
    return Guess(rows, large and rows > ESTIMATE_SHARE * _table(session))


def past_cap(guessed: int, exact_limit: int = EXACT_LIMIT) -> Total:
    """The total of a listing counted past its cap: the guess, never below the cap."""
    return Total(max(guessed, exact_limit + 1), estimated=True)


def _rows(conditions: Sequence[ColumnElement[bool]], driver: Driver | None) -> Select[Any]:
    if driver is None:
        return select(literal(1)).select_from(TABLE).where(*conditions)
    if driver.index is None or driver.on is None:  # the jobs themselves, in position order
        stmt = select(literal(1)).select_from(TABLE).where(driver.where, *conditions)
        return stmt.order_by(driver.position)
    if driver.alone and not conditions:
        return select(literal(1)).select_from(driver.index).where(driver.where)
    joined = driver.index.join(TABLE, driver.on)
    stmt = select(literal(1)).select_from(joined).where(driver.where, *conditions)
    return stmt.prefix_with("STRAIGHT_JOIN", dialect="mysql")


def _table(session: Session) -> int:
    """The planner's number of jobs (EXPLAIN of the whole table), asked once per session:
    the dashboard's five states share it."""
    if TABLE_ESTIMATE not in session.info:
        session.info[TABLE_ESTIMATE] = estimate(session, select(literal(1)).select_from(TABLE))
    return int(session.info[TABLE_ESTIMATE])


def key_range(
    session: Session, key: ColumnElement[int], table: Any = TABLE
) -> tuple[int | None, int | None]:
    """The smallest and largest `key` of `table`: two index seeks. (SQLite reads `min(k),
    max(k)` in one SELECT by scanning the whole table: 0.4 s for 2.4 M assets.)"""
    ends = (select(end(key)).select_from(table).scalar_subquery() for end in (func.min, func.max))
    low, high = session.execute(select(*ends)).one()
    return low, high


def _rowid_range(session: Session) -> tuple[int | None, int | None]:
    return key_range(session, ROWID)


def _extrapolate(session: Session, counted: int, last: int) -> int:
    """SQLite: `counted` matches read up to rowid `last` in rowid order; at that density,
    how many in the whole rowid range (two seeks)."""
    low, high = _rowid_range(session)
    if low is None or high is None or last < low:
        return counted
    return round(counted * (high - low + 1) / (last - low + 1))


def _sampled(session: Session, conditions: Sequence[ColumnElement[bool]]) -> int:
    """SQLite: the share of the newest SAMPLE rowids (one range of the table, a LIMIT keeps
    the planner to it) that match, times the rowid range."""
    low, high = _rowid_range(session)
    if low is None or high is None:
        return 0
    span = high - low + 1
    if not conditions:
        return span
    seen = {
        getattr(element, "name", None)
        for condition in conditions
        for element in iterate(condition)
        if getattr(element, "table", None) is TABLE
    }
    used: list[ColumnElement[Any]] = [c for c in TABLE.columns if c.name in seen] or [ROWID]
    newest = select(*used).where(ROWID > high - SAMPLE).order_by(ROWID).limit(SAMPLE).subquery()
    adapted = [ClauseAdapter(newest).traverse(c) for c in conditions]
    hits = int(session.scalar(select(func.count()).select_from(newest).where(*adapted)) or 0)
    return round(hits * span / min(SAMPLE, span))
