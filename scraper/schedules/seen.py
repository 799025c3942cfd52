"""The memory of seen items: which source items an earlier job of a user or a schedule stored.

An item is known by its source's own identity (`MediaItem.item_id`: an Openverse or Archive
id, a Commons page, a feed entry's guid; else its URL), hashed so the unique index stays
short on every dialect. A job asks before it downloads (`seen`), and tells after it stored
(`remember`). Failing reads or writes only lose the optimisation: they are logged, never fatal.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Insert, insert, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from scraper.models import SeenItem, utcnow
from scraper.sources import MediaItem

log = logging.getLogger(__name__)
KEY_LENGTH = 2048


class JobLike(Protocol):
    id: str
    user_id: int | None
    schedule_id: int | None
    incremental: bool


def item_key(item: MediaItem) -> str:
    """The source's own identity of an item, else its URL."""
    return (item.item_id or item.url)[:KEY_LENGTH]


def item_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def schedule_scope(schedule_id: int) -> str:
    return f"s:{schedule_id}"


def user_scope(user_id: int) -> str:
    return f"u:{user_id}"


@dataclass
class SeenItems:
    """One job's view: the scope it skips by (None: not incremental) and those it records."""

    sessions: sessionmaker[Session]
    job_id: str
    lookup: str | None
    record: list[tuple[str, int | None]] = field(default_factory=list)  # (scope, schedule_id)
    _broken: bool = False

    @classmethod
    def for_job(cls, session_factory: sessionmaker[Session], job: JobLike) -> SeenItems:
        """A schedule's job skips what its schedule stored; a one-off incremental job what its
        user stored. Every job records into its user's scope (and its schedule's)."""
        record: list[tuple[str, int | None]] = []
        if job.user_id is not None:
            record.append((user_scope(job.user_id), None))
        if job.schedule_id is not None:
            record.append((schedule_scope(job.schedule_id), job.schedule_id))
        lookup = None
        if job.incremental:
            if job.schedule_id is not None:
                lookup = schedule_scope(job.schedule_id)
            elif job.user_id is not None:
                lookup = user_scope(job.user_id)
        return cls(session_factory, job.id, lookup, record)

    def seen(self, source: str, item: MediaItem) -> bool:
        """True if an earlier job of the lookup scope stored this item (one indexed read)."""
        if self.lookup is None or self._broken:
            return False
        digest = item_hash(item_key(item))
        try:
            with self.sessions() as s:
                found = s.scalar(
                    select(SeenItem.id).where(
                        SeenItem.scope == self.lookup,
                        SeenItem.source == source,
                        SeenItem.item_hash == digest,
                        # What this job stored in an earlier attempt is its own (resumed), not
                        # an earlier job's: the job's run skips it by URL instead.
                        or_(SeenItem.job_id.is_(None), SeenItem.job_id != self.job_id),
                    )
                )
        except SQLAlchemyError as exc:
            self._give_up("read", exc)
            return False
        return found is not None

    def remember(self, stored: Iterable[tuple[str, MediaItem]]) -> None:
        """Record stored items in every scope of the job; items already known are left."""
        if not self.record or self._broken:
            return
        now = utcnow()
        rows = [
            dict(
                scope=scope,
                schedule_id=schedule_id,
                source=source,
                item_hash=item_hash(item_key(item)),
                item_key=item_key(item),
                job_id=self.job_id,
                created_at=now,
            )
            for source, item in stored
            for scope, schedule_id in self.record
        ]
        if not rows:
            return
        try:
            with self.sessions() as s, s.begin():
                s.execute(insert_ignoring_duplicates(s.get_bind().dialect.name), rows)
        except SQLAlchemyError as exc:
            self._give_up("write", exc)

    def _give_up(self, what: str, exc: SQLAlchemyError) -> None:
        self._broken = True
        log.warning(
            "job %s: cannot %s seen items (the job goes on without them): %s",
            self.job_id,
            what,
            str(getattr(exc, "orig", exc)).splitlines()[0],
            extra={"job_id": self.job_id},
        )


def insert_ignoring_duplicates(dialect: str) -> Insert:
    """INSERT into seen_items that leaves a row whose unique key exists (per dialect)."""
    table: Any = SeenItem.__table__
    if dialect == "postgresql":  # each dialect's module loads on first use
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table).on_conflict_do_nothing()
    if dialect == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table).on_conflict_do_nothing()
    if dialect in ("mysql", "mariadb"):
        from sqlalchemy.dialects import mysql

        return mysql.insert(table).prefix_with("IGNORE")
    return insert(table)
