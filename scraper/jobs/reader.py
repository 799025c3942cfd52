"""Read jobs with the columns `scrape_jobs` really has, so a drifted schema hides no job.

The live columns are reflected once and cached: until a read fails (then reflected again and
the read retried once) or, while columns are missing, for at most `recheck_seconds` (so a
repaired schema is seen again). A missing column reads as the record's default.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import MISSING, dataclass, fields
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    String,
    Table,
    cast,
    func,
    inspect,
    literal_column,
    select,
)
from sqlalchemy.exc import DBAPIError, NoSuchTableError
from sqlalchemy.orm import Session, sessionmaker

from scraper.db import is_transient
from scraper.jobs.reads import counting
from scraper.jobs.reads.counting import Total, count_jobs
from scraper.jobs.reads.keyset import Position, read_page
from scraper.jobs.reads.keyset import can_page as keyset_ok
from scraper.jobs.reads.listed import listed_or_walked
from scraper.jobs.record import COLUMN_FIELDS, JobRecord
from scraper.jobs.tally import kept_total
from scraper.models import ScrapeJob
from scraper.textsearch import like_pattern, search


class JobSort(StrEnum):
    """The orders a job listing offers (the API's `sort`, the jobs page's select)."""

    OLDEST = "created_at"
    NEWEST = "-created_at"
    STATUS = "status"
    PROGRESS = "progress"


TABLE: Table = ScrapeJob.__table__  # type: ignore[assignment]
REQUIRED = {f.name for f in fields(JobRecord) if MISSING is f.default is f.default_factory}


@dataclass(frozen=True)
class JobFilter:
    """Which jobs a listing shows; None means no filter."""

    status: str | None = None
    user_id: int | None = None
    q: str | None = None
    source: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    sort: JobSort = JobSort.NEWEST

    def matches(self, job: JobRecord) -> bool:
        """The same filter in Python, for jobs held in the fallback store."""
        created = job.created_at
        return (
            (self.status is None or job.status == self.status)
            and (self.user_id is None or job.user_id == self.user_id)
            and (self.q is None or self.q.lower() in job.query.lower())
            and (self.source is None or self.source in job.enabled_sources)
            and (self.since is None or (created is not None and created >= self.since))
            and (self.until is None or (created is not None and created < self.until))
        )


class JobReader:
    """Jobs read with the intersection of the model's and the database's columns."""

    def __init__(self, session_factory: sessionmaker[Session], recheck_seconds: float = 10.0):
        self.Session = session_factory
        self.recheck_seconds = recheck_seconds
        self._present: frozenset[str] | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    # -- the live columns --------------------------------------------------------------------

    def missing_columns(self) -> list[str]:
        """Model columns the database lacks (empty when in sync or when the table is absent)."""
        present = self._columns()
        return [] if not present else [c.name for c in TABLE.columns if c.name not in present]

    def _columns(self) -> frozenset[str]:
        with self._lock:
            drifted = self._present is not None and len(self._present) < len(TABLE.columns)
            stale = drifted and time.monotonic() - self._checked > self.recheck_seconds
            if self._present is None or stale:
                self._present = self._reflect()
                self._checked = time.monotonic()
            return self._present

    def _reflect(self) -> frozenset[str]:
        with self.Session() as s:
            try:
                names = {c["name"] for c in inspect(s.connection()).get_columns(TABLE.name)}
            except NoSuchTableError:
                return frozenset()
        return frozenset(names) & frozenset(TABLE.columns.keys())

    def invalidate(self) -> None:
        """Forget the reflected columns (the schema changed)."""
        with self._lock:
            self._present = None

    def _selected(self, present: frozenset[str]) -> list[Column[Any]]:
        return [c for c in TABLE.columns if c.name in present]

    def _retrying(self, read: Any) -> Any:
        """Run `read(present)`; after a non-transient failure, reflect again and retry once."""
        present = self._columns()
        try:
            return read(present)
        except DBAPIError as exc:
            if is_transient(exc):
                raise
            self.invalidate()
            return read(self._columns())

    # -- reads -------------------------------------------------------------------------------

    def get(self, job_id: str) -> JobRecord | None:
        """The job with this id, or None; SQLAlchemyError when the database cannot answer."""

        def read(present: frozenset[str]) -> JobRecord | None:
            if not present:
                return None
            with self.Session() as s:
                row = s.execute(select(*self._selected(present)).where(TABLE.c.id == job_id))
                found = row.first()
            return record_from(found._mapping) if found is not None else None

        result: JobRecord | None = self._retrying(read)
        return result

    def list_page(
        self, where: JobFilter, limit: int = 50, offset: int = 0
    ) -> tuple[list[JobRecord], int]:
        """One page of jobs and the total that match."""
        found = self.page(where, limit, offset)
        return found.jobs, found.total

    def page(
        self, where: JobFilter, limit: int = 50, offset: int = 0, after: Position | None = None
    ) -> DatabasePage:
        """A page from `offset`, or after `after` (keyset: no OFFSET); the total may be
        estimated past counting.EXACT_LIMIT; `last` is the row the next page follows."""

        def read(present: frozenset[str]) -> DatabasePage:
            if not present:
                return DatabasePage([], 0)
            keyset = keyset_ok(where.sort, present) and (offset == 0 or after is not None)
            with self.Session() as s:
                others = _conditions(where, present, s.get_bind().dialect.name)
                conditions, found = others, None
                if where.q is not None and "query" in present:
                    found = search(s, TABLE.c.query, where.q, counting.EXACT_LIMIT)
                    conditions = [*others, found.condition]
                driver = found.driver if found else None
                # A driver's own condition tests q: the count needs only the others.
                counted = others if driver else conditions

                def count() -> Total:  # not needed when a short first page is its own total
                    known = _kept(s, where, present)
                    if known is not None:
                        return Total(known)
                    first = found is not None and found.estimate_first
                    return count_jobs(s, counted, driver=driver, estimate_first=first)

                if limit <= 0:
                    total = count()
                    return DatabasePage([], total.count, total.estimated)
                columns, start = self._selected(present), after or Position(where.sort)
                listed = None
                if keyset and found is not None and found.listed is not None:
                    rows, listed = listed_or_walked(s, columns, others, found, start, limit + 1)
                elif keyset:
                    rows = read_page(s, columns, conditions, start, limit + 1)
                else:
                    stmt = select(*columns).where(*conditions)
                    stmt = stmt.order_by(*_ordering(where.sort, present))
                    rows = list(s.execute(stmt.limit(limit + 1).offset(offset)))
                # A first page that is not full holds every match: its length is the total
                # (a rare `q` read its index once, not again for the count).
                whole = after is None and offset == 0 and len(rows) <= limit
                # (before a listed count: past its cap that one is an estimate)
                total = Total(len(rows)) if whole else listed if listed is not None else count()
            jobs = [record_from(r._mapping) for r in rows[:limit]]
            more = len(rows) > limit and keyset_ok(where.sort, present)
            last = rows[limit - 1]._mapping if more else None
            return DatabasePage(jobs, total.count, total.estimated, last)

        result: DatabasePage = self._retrying(read)
        return result


@dataclass
class DatabasePage:
    """The database's part of a listing; `last` is the last row's mapping when more follow."""

    jobs: list[JobRecord]
    total: int
    estimated: bool = False
    last: Any = None


def record_from(values: Any) -> JobRecord:
    """A JobRecord from a row mapping that may lack columns (they take the defaults)."""
    data = {name: values[name] for name in COLUMN_FIELDS if name in values}
    data["enabled_sources"] = list(data.get("enabled_sources") or [])
    for name in REQUIRED - set(data):
        data[name] = {"query": "", "max_content": 0, "safe_search": True}.get(name, "")
    return JobRecord(**data, storage="database")


def _kept(session: Session, where: JobFilter, present: frozenset[str]) -> int | None:
    """SQLite: the total of a listing filtered by status and owner alone, exact, from the
    counts the triggers keep (scraper.statecounts); None when it is not one of those."""
    narrowed = (where.q, where.source, where.since, where.until) != (None,) * 4
    if narrowed or not {"status", "user_id"} <= present:
        return None
    return kept_total(session, where.status, where.user_id)


def _conditions(
    where: JobFilter, present: frozenset[str], dialect: str = ""
) -> list[ColumnElement[bool]]:
    """SQL conditions for the filter but `q` (scraper.textsearch.search); one on a column the
    database lacks cannot be applied."""
    c, out = TABLE.c, []
    wanted: Sequence[tuple[str, Any, Any]] = (
        ("status", where.status, lambda v: _selective(c.status == v, dialect)),
        ("user_id", where.user_id, lambda v: _selective(c.user_id == v, dialect)),
        (
            "enabled_sources",
            where.source,
            lambda v: cast(c.enabled_sources, String).like(like_pattern(f'"{v}"'), escape="\\"),
        ),
        ("created_at", where.since, lambda v: c.created_at >= v),
        ("created_at", where.until, lambda v: c.created_at < v),
    )
    for column, value, condition in wanted:
        if value is not None and column in present:
            out.append(condition(value))
    return out


def _selective(equal: ColumnElement[bool], dialect: str) -> ColumnElement[bool]:
    """`equal` (a state's or an owner's jobs); on SQLite marked selective (`likelihood`, a
    planner hint only).

    SQLite plans before it sees the value, from ANALYZE's average rows per state or user,
    which is large: for `WHERE status = ? ORDER BY created_at DESC, id DESC LIMIT ?` it walked
    the newest-first index testing every job, the whole table for a state or a user few jobs
    belong to (3 `running` of 20,000: 14 ms; of 200,000: 221 ms). Told the condition is rare
    it takes the range of (status, created_at) or (user_id, created_at) and sorts ties by id
    as it goes, which stops at the page's end however many jobs match."""
    if dialect != "sqlite":
        return equal
    # untyped: a Boolean function is written `likelihood(…) = 1` on SQLite, no hint any more
    hinted: ColumnElement[bool] = func.likelihood(equal, literal_column("0.001"))
    return hinted


def _ordering(sort: JobSort, present: frozenset[str]) -> list[Any]:
    """ORDER BY for a sort key; the newest first breaks ties, the id makes it total (the
    same order as the keyset pages of scraper.jobs.reads.keyset)."""
    c = TABLE.c
    newest = [c.created_at.desc(), c.id.desc()] if "created_at" in present else [c.id.desc()]
    oldest = [c.created_at.asc(), c.id.asc()] if "created_at" in present else [c.id.asc()]
    progress = [c.progress.asc()] if "progress" in present else []
    keys: dict[JobSort, list[Any]] = {
        JobSort.NEWEST: newest,
        JobSort.OLDEST: oldest,
        JobSort.STATUS: [c.status.asc(), *newest],
        JobSort.PROGRESS: [*progress, *newest],
    }
    return keys.get(sort, newest)
