"""The fence on a worker's writes: each one succeeds only while the worker holds the job.

A job's `lease_token` grows with every claim. A write names the worker and the token of its
claim; a worker frozen past its lease (a GC pause, a VM freeze, a partition) whose job was
rescued and claimed again writes nothing when it wakes: neither progress nor asset rows.
"""

from __future__ import annotations

import enum
import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import BindParameter, ColumnElement, Insert, Table, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from scraper import rollup
from scraper.db import retry_transient
from scraper.logs import log_context
from scraper.models import Asset, JobStatus, ScrapeJob, utcnow

log = logging.getLogger(__name__)


class AssetWrite(enum.Enum):
    """What a fenced insert did with one asset."""

    STORED = "stored"
    DUPLICATE = "duplicate"  # this job already has this content (an earlier attempt stored it)
    REFUSED = "refused"  # the job is no longer this worker's: nothing was written


@dataclass(frozen=True)
class AssetsWritten:
    """What a fenced batch insert did: refused as a whole, or which contents it inserted."""

    refused: bool = False
    inserted: frozenset[str] = frozenset()  # sha256 of the rows inserted

    def of(self, row: Asset) -> AssetWrite:
        """What happened to this row."""
        if self.refused:
            return AssetWrite.REFUSED
        return AssetWrite.STORED if row.sha256 in self.inserted else AssetWrite.DUPLICATE


def held_by(worker_id: str | BindParameter[str], token: Any) -> list[ColumnElement[bool]]:
    """The guard on every worker write: still running, still this worker's, same claim (the
    token an int, a bind parameter, or None: no token to compare)."""
    guard = [ScrapeJob.status == JobStatus.RUNNING.value, ScrapeJob.locked_by == worker_id]
    if token is not None:
        guard.append(ScrapeJob.lease_token == token)
    return guard


def add_assets(
    session_factory: sessionmaker[Session],
    worker_id: str,
    token: int | None,
    rows: Sequence[Asset],
    check: bool = False,
) -> AssetsWritten:
    """Insert one job's new asset rows in one transaction with a guarded touch of its row.

    The touch takes the job's row lock, so a rescue or a new claim waits for this insert to
    commit (or finds it refused). A job's download pool records what finished together at once:
    one commit for many files. A lost connection is retried; the unique (job, content) key
    makes it idempotent: a row already there (a retried commit that had landed, a concurrent
    insert) fails the batch, which is then sorted out one row at a time, each `check`ed first.
    """
    if not rows:
        return AssetsWritten()
    job_id = rows[0].job_id
    try:
        written = retry_transient(
            lambda: _insert(session_factory, worker_id, token, rows, check),
            f"assets of job {job_id}",
        )
    except IntegrityError:  # one of them is there already: sort it out one by one
        if check and len(rows) == 1:
            raise  # checked and still refused: not a duplicate of ours
        singles = [add_assets(session_factory, worker_id, token, [row], check=True) for row in rows]
        refused = any(w.refused for w in singles)
        written = AssetsWritten(refused, frozenset().union(*(w.inserted for w in singles)))
    if written.refused:
        with log_context(job_id=job_id, worker=worker_id):
            log.warning(
                "asset write refused: job %s is no longer held by %s (lease token %s): %d file(s)",
                job_id,
                worker_id,
                token,
                len(rows),
            )
    return written


def _insert(
    session_factory: sessionmaker[Session],
    worker_id: str,
    token: int | None,
    rows: Sequence[Asset],
    check: bool,
) -> AssetsWritten:
    job_id = rows[0].job_id
    with session_factory() as s, s.begin():
        touch = (
            update(ScrapeJob)
            .where(ScrapeJob.id == job_id, *held_by(worker_id, token))
            .values(updated_at=utcnow())
        )
        returning = s.get_bind().dialect.name in rollup.RETURNING
        if returning:  # the touch returns the owner the rollup needs: no second read
            owners = s.execute(touch.returning(ScrapeJob.user_id)).all()
            if len(owners) != 1:
                return AssetsWritten(refused=True)
            owner = owners[0].user_id
        elif s.execute(touch).rowcount != 1:  # type: ignore[attr-defined]
            return AssetsWritten(refused=True)
        have: set[str] = set()
        if check:
            shas = {row.sha256 for row in rows}
            query = select(Asset.sha256).where(Asset.job_id == job_id, Asset.sha256.in_(shas))
            have = set(s.scalars(query))
        inserted: set[str] = set()
        added = []
        for row in rows:
            if row.sha256 not in have | inserted:
                inserted.add(row.sha256)
                added.append(fresh_copy(row))
        insert_assets(s, added)
        if not returning:
            owner = s.scalar(select(ScrapeJob.user_id).where(ScrapeJob.id == job_id))
        rollup.add_assets(s, owner, added)
    return AssetsWritten(inserted=frozenset(inserted))


def insert_assets(s: Session, rows: Sequence[Asset]) -> None:
    """Insert `fresh_copy` rows as one Core statement: nothing reads them back (their ids),
    so the ORM's unit of work would only add CPU to every job's last write."""
    if rows:
        table = cast(Table, Asset.__table__)
        columns = [c.key for c in table.columns if c.key != "id"]
        values = [{c: getattr(r, c) for c in columns} for r in rows]
        # One row (a no-op job's): a plain execute, not a pipelined executemany. Through the
        # ORM only where a hook listens (`ops doctor`'s probe numbers the rows): its
        # handling of a statement costs more CPU than the insert itself.
        target = s if s.dispatch.do_orm_execute else s.connection()
        target.execute(_insert_asset(), values[0] if len(values) == 1 else values)


@functools.cache
def _insert_asset() -> Insert:
    """The asset insert, built once."""
    return insert(cast(Table, Asset.__table__))


def fresh_copy(row: Asset) -> Asset:
    """The row as it is written, its time set here (so the rollup counts it in the slot the
    row says), leaving the caller's row as it was: a refused or retried write sends it again."""
    values = {c.key: getattr(row, c.key) for c in Asset.__table__.columns}
    values["created_at"] = values["created_at"] or utcnow()
    return Asset(**{name: value for name, value in values.items() if value is not None})
