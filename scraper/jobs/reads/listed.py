"""A page of a `q` with few matches, listed from PostgreSQL's trigram bitmap in one statement.

The planner estimates `ILIKE '%q%'` from the share of the column's histogram bounds that
match: one bound matching by chance is 1 % of the table, and then it walks the newest-first
index testing each row, though the matches may be 222 jobs near the other end (99,090 rows
read for one page at 100 k jobs, 53 ms), while the GIN bitmap of every match costs 1 ms.
Here the matches (capped at `cap` + 1) are materialised from the bitmap once, counted, and the
page is the first rows of them past the cursor, in the sort's order: when they are at most
`cap`, that count is the exact total and the page is right; past the cap it is a sample, and
the caller pages by walking the index instead (the matches are dense).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Column, ColumnElement, func, select, true
from sqlalchemy.orm import Session

from scraper.jobs.reads import counting
from scraper.jobs.reads.counting import Total, past_cap
from scraper.jobs.reads.keyset import GROUPS, TABLE, Position, order_of, past_in_order, read_page

COUNTED = "matches"  # the extra column of each row: how many jobs matched (capped)


def listed_page(
    session: Session,
    columns: Sequence[Column[Any]],
    conditions: Sequence[ColumnElement[bool]],
    after: Position,
    want: int,
    cap: int,
) -> tuple[list[Any], int]:
    """Up to `want` rows after `after` and how many jobs match `conditions` (at most
    `cap` + 1): one statement, `WITH matches AS MATERIALIZED (… LIMIT cap + 1)`, its count
    joined to the page (an empty page still carries it)."""
    c = TABLE.c
    group = GROUPS[after.sort]
    keys = [c.id, c.created_at, *([c[group]] if group else [])]
    matches = select(*keys).where(*conditions).limit(cap + 1).cte(COUNTED)
    matches = matches.prefix_with("MATERIALIZED")
    ids = select(matches.c.id).where(*past_in_order(session, after, matches.c))
    ids = ids.order_by(*order_of(after.sort, matches.c)).limit(want)
    page = select(*columns).where(c.id.in_(ids)).subquery("page")
    counted = select(func.count().label(COUNTED)).select_from(matches).subquery("counted")
    stmt = select(counted.c[COUNTED], *page.c).select_from(counted.outerjoin(page, true()))
    rows = list(session.execute(stmt.order_by(*order_of(after.sort, page.c))))
    total = int(rows[0]._mapping[COUNTED]) if rows else 0
    return [r for r in rows if r._mapping["id"] is not None], total


def bitmap_page(
    session: Session,
    columns: Sequence[Column[Any]],
    conditions: Sequence[ColumnElement[bool]],
    after: Position,
    want: int,
) -> tuple[list[Any], Total]:
    """A page of PostgreSQL's `q` (scraper.textsearch: `Search.bitmap`) and its total.

    The planner's estimate comes first (one EXPLAIN): a trusted one (a common q) is the
    total, and the newest-first walk finds a page within a few rows. Otherwise the matches
    are listed from the bitmap with their count (listed_page); only past the cap (dense
    matches the estimate missed) does the walk read the page, the total the estimate."""
    cap = counting.EXACT_LIMIT
    first = counting.guess(session, conditions, exact_limit=cap)
    if not first.trusted:
        rows, found = listed_page(session, columns, conditions, after, want, cap)
        if found <= cap:
            return rows, Total(found)
    total = Total(first.rows, estimated=True) if first.trusted else past_cap(first.rows, cap)
    return read_page(session, columns, conditions, after, want), total
