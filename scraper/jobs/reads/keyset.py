"""Keyset pages of jobs: an opaque cursor in, the rows after it out, each page an index range.

Every sort is a total order read in one direction per group: `-created_at` is
(created_at DESC, id DESC), `created_at` (created_at ASC, id ASC); `status` and `progress`
walk their values upward and, inside each value, newest first — one index range per value
(`(status, created_at)`, `(progress, created_at)`), the next value found by an index seek.
So a deep page costs what the first one does: no OFFSET, no sort of the whole table.

The cursor is base64url JSON with a checksum: not a secret (the caller's filter still
applies to every row it returns), but one we did not make is refused, naming why.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Select,
    and_,
    func,
    literal,
    or_,
    select,
    tuple_,
)
from sqlalchemy.orm import Session

from scraper.errors import ScraperError
from scraper.models import JobStatus, ScrapeJob

TABLE = ScrapeJob.__table__
VERSION = 1
MAX_CURSOR_LENGTH = 512
JOB_CURSOR = b"scraper-job-cursor:"  # each kind of cursor checks out only as its own
# sort -> the column whose values are walked upward (None: one range over created_at)
GROUPS: dict[str, str | None] = {
    "-created_at": None,
    "created_at": None,
    "status": "status",
    "progress": "progress",
}
KEY_COLUMNS = {"created_at", "id"}


class InvalidCursor(ScraperError):
    """A `cursor` this service did not hand out (or one for another sort)."""


@dataclass(frozen=True)
class Position:
    """Where the next page starts: after `held` fallback jobs, then after the database row
    with key (`group`, `created_at`, `id`); `created_at` None means before the first row."""

    sort: str
    held: int = 0
    group: str | int | None = None
    created_at: datetime | None = None
    id: str | None = None

    @property
    def in_database(self) -> bool:
        return self.created_at is not None


def encode(position: Position) -> str:
    """The opaque cursor for a position."""
    when = position.created_at.isoformat() if position.created_at else None
    body = [VERSION, position.sort, position.held, position.group, when, position.id]
    return seal(JOB_CURSOR, body)


def seal(kind: bytes, body: list[Any]) -> str:
    """`body` as an opaque cursor of `kind`: base64url JSON behind a checksum of both."""
    raw = json.dumps(body, separators=(",", ":")).encode()
    return _b64(_checksum(kind, raw) + raw)


def unseal(kind: bytes, cursor: str) -> Any:
    """The JSON a cursor of `kind` carries; InvalidCursor if this service did not make it."""
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise InvalidCursor("too long to be a cursor this service made")
    try:
        data = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError):
        raise InvalidCursor("not a cursor this service made (not base64url)") from None
    digest, raw = data[:8], data[8:]
    if len(data) <= 8 or digest != _checksum(kind, raw):
        raise InvalidCursor("not a cursor this service made (checksum mismatch)")
    try:
        return json.loads(raw)
    except ValueError:
        raise InvalidCursor("not a cursor this service made (malformed)") from None


def decode(cursor: str, sort: str) -> Position:
    """The position a cursor names; InvalidCursor says what is wrong with it."""
    body = unseal(JOB_CURSOR, cursor)
    try:
        version, made_for, held, group, when, job_id = body
        created = datetime.fromisoformat(when) if when is not None else None
    except (ValueError, TypeError):
        raise InvalidCursor("not a cursor this service made (malformed)") from None
    if version != VERSION:
        raise InvalidCursor(f"made by another version ({version!r}); start from the first page")
    if made_for != sort:
        raise InvalidCursor(f"made for sort={made_for!r}, not sort={sort!r}")
    position = Position(sort, held, group, created, job_id)
    _check_types(position)
    return position


def _check_types(p: Position) -> None:
    group = GROUPS.get(p.sort)
    ok = isinstance(p.held, int) and p.held >= 0
    if p.created_at is not None:
        ok = ok and isinstance(p.id, str) and p.created_at.tzinfo is not None
        ok = ok and (
            (group is None and p.group is None)
            or (group == "status" and p.group in {s.value for s in JobStatus})
            or (group == "progress" and isinstance(p.group, int))
        )
    if not ok:
        raise InvalidCursor("not a cursor this service made (bad values)")


def _checksum(kind: bytes, raw: bytes) -> bytes:
    return hashlib.sha256(kind + raw).digest()[:8]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def after_row(sort: str, held: int, row: Any) -> Position:
    """The position just after a database row (a mapping with the key columns)."""
    group = GROUPS[sort]
    return Position(sort, held, row[group] if group else None, row["created_at"], row["id"])


# -- reading a page ------------------------------------------------------------------------------


def can_page(sort: str, present: frozenset[str]) -> bool:
    """Keyset paging needs the sort's key columns (a drifted schema falls back to OFFSET)."""
    group = GROUPS.get(sort, None)
    return KEY_COLUMNS <= present and (group is None or group in present)


def read_page(
    session: Session,
    columns: Sequence[Column[Any]],
    conditions: Sequence[ColumnElement[bool]],
    after: Position,
    want: int,
) -> list[Any]:
    """Up to `want` rows after `after` in its sort's order, one index range per step."""
    group_name = GROUPS[after.sort]
    base = select(*columns).where(*conditions)
    if group_name is None:
        newest_first = after.sort == "-created_at"
        stmt = base.where(*past(session, after, newest_first)) if after.in_database else base
        return list(session.execute(_ordered(stmt, newest_first).limit(want)))
    group = TABLE.c[group_name]
    value = after.group if after.in_database else _next_value(session, group, conditions, None)
    inside, rows = after.in_database, list[Any]()
    while value is not None and len(rows) < want:
        stmt = base.where(group == value)
        if inside:
            stmt = stmt.where(*past(session, after, True))
        rows += session.execute(_ordered(stmt, True).limit(want - len(rows)))
        if len(rows) < want:
            value = _next_value(session, group, conditions, value)
        inside = False
    return rows


def _ordered(stmt: Select[Any], newest_first: bool) -> Select[Any]:
    return stmt.order_by(*order_of("-created_at" if newest_first else "created_at"))


def past(
    session: Session, after: Position, newest_first: bool, c: Any = TABLE.c
) -> list[ColumnElement[bool]]:
    """Rows past (created_at, id): a row-value comparison (PostgreSQL, SQLite) or its
    expansion (MariaDB's range optimizer reads that as two ranges of one index)."""
    if session.get_bind().dialect.name == "mysql":
        if newest_first:
            expanded = or_(
                c.created_at < after.created_at,
                and_(c.created_at == after.created_at, c.id < after.id),
            )
        else:
            expanded = or_(
                c.created_at > after.created_at,
                and_(c.created_at == after.created_at, c.id > after.id),
            )
        return [expanded]
    types = TABLE.c
    at = tuple_(literal(after.created_at, types.created_at.type), literal(after.id, types.id.type))
    key = tuple_(c.created_at, c.id)
    return [key < at if newest_first else key > at]


def order_of(sort: str, columns: Any = TABLE.c) -> list[ColumnElement[Any]]:
    """ORDER BY of a sort as one ordering (the group's values upward, then newest first),
    over `columns` (scrape_jobs', or a subquery's of the same names): the order read_page
    reads its ranges in."""
    group = GROUPS[sort]
    if sort == "created_at":
        return [columns.created_at.asc(), columns.id.asc()]
    newest = [columns.created_at.desc(), columns.id.desc()]
    return [columns[group].asc(), *newest] if group else newest


def past_in_order(
    session: Session, after: Position, columns: Any = TABLE.c
) -> list[ColumnElement[bool]]:
    """Rows after `after` in order_of's ordering (nothing when it is before the first)."""
    if not after.in_database:
        return []
    group = GROUPS[after.sort]
    key = past(session, after, after.sort != "created_at", columns)
    if group is None:
        return key
    value = columns[group]
    return [or_(value > after.group, and_(value == after.group, *key))]


def _next_value(
    session: Session,
    group: ColumnElement[Any],
    conditions: Sequence[ColumnElement[bool]],
    above: str | int | None,
) -> Any:
    """The smallest value of the group column past `above`: one seek into its index."""
    stmt = select(func.min(group)).where(*conditions)
    if above is not None:
        stmt = stmt.where(group > above)
    return session.scalar(stmt)
