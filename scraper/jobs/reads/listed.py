"""A page of a `q` with few matches, listed from its index's candidates in one statement.

PostgreSQL estimates `ILIKE '%q%'` from the share of the column's histogram bounds that
match: one bound matching by chance is 1 % of the table, and then it walks the newest-first
index testing each row, though the matches may be 222 jobs at the other end (99,090 rows
read for one page at 100 k jobs, 53 ms) while the GIN bitmap of every match costs 1 ms.
MariaDB counted a q's matches among its rarest trigram's candidates, then read the same
candidates again for the page (11,111 job rows each time for `cats 99` at 1 M).

Here the matches (capped at `cap` + 1) are read from the index once, counted (a window
count) and the page is the first of them past the cursor in the sort's order, joined back to
its jobs: at most `cap` matches, and that count is the exact total and the page is right;
past the cap they are a sample, and the page is the newest-first walk's (dense matches).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Column, ColumnElement, func, select
from sqlalchemy.orm import Session

from scraper.jobs.reads import counting
from scraper.jobs.reads.counting import Guess, Total, past_cap
from scraper.jobs.reads.keyset import GROUPS, TABLE, Position, order_of, past_in_order, read_page
from scraper.textsearch import Search

COUNTED = "matches"  # the extra column of each listed row: how many jobs matched (capped)


def listed_page(
    session: Session,
    columns: Sequence[Column[Any]],
    conditions: Sequence[ColumnElement[bool]],
    after: Position,
    want: int,
    cap: int,
) -> tuple[list[Any], int]:
    """Up to `want` rows after `after` and how many jobs match `conditions` (at most
    `cap` + 1), in one statement; a second one counts only for an empty page after a cursor."""
    c = TABLE.c
    group = GROUPS[after.sort]
    keys = [c.id, c.created_at, *([c[group]] if group else [])]
    matches = select(*keys).where(*conditions).limit(cap + 1).subquery("matched")
    counted = select(*matches.c, func.count().over().label(COUNTED)).subquery("counted")
    page = select(counted.c.id, counted.c[COUNTED])
    page = page.where(*past_in_order(session, after, counted.c))
    listed = page.order_by(*order_of(after.sort, counted.c)).limit(want).subquery("listed")
    stmt = select(listed.c[COUNTED], *columns).join_from(listed, TABLE, c.id == listed.c.id)
    rows = list(session.execute(stmt.order_by(*order_of(after.sort))))
    if rows:
        return rows, int(rows[0]._mapping[COUNTED])
    if not after.in_database:  # the first page holds the first match: there are none
        return [], 0
    return [], int(session.scalar(select(func.count()).select_from(matches)) or 0)


def listed_or_walked(
    session: Session,
    columns: Sequence[Column[Any]],
    others: Sequence[ColumnElement[bool]],
    found: Search,
    after: Position,
    want: int,
) -> tuple[list[Any], Total]:
    """A page of a q whose index lists its candidates (`found.listed`) and the total.

    With `estimate_first` the planner's estimate comes first (one EXPLAIN): a trusted one (a
    common q) is the total, and the newest-first walk finds a page within a few rows.
    Otherwise the matches are listed with their count (listed_page); only past the cap
    (dense matches the estimate missed) does the walk read the page, the total estimated."""
    assert found.listed is not None
    cap = counting.EXACT_LIMIT
    walk = [*others, found.condition]
    counted = others if found.driver is not None else walk

    def guess() -> Guess:  # MariaDB's search already asked for its rarest trigram's
        if found.guessed is not None:
            return counting.trust(session, found.guessed, cap)
        return counting.guess(session, counted, found.driver, exact_limit=cap)

    first = guess() if found.estimate_first else None
    if first is None or not first.trusted:
        rows, matched = listed_page(session, columns, [*others, found.listed], after, want, cap)
        if matched <= cap:
            return rows, Total(matched)
        first = first or guess()
    total = Total(first.rows, estimated=True) if first.trusted else past_cap(first.rows, cap)
    return read_page(session, columns, walk, after, want), total
