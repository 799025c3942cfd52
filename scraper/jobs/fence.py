"""The fence on a worker's writes: each one succeeds only while the worker holds the job.

A job's `lease_token` grows with every claim. A write names the worker and the token of its
claim; a worker frozen past its lease (a GC pause, a VM freeze, a partition) whose job was
rescued and claimed again writes nothing when it wakes: neither progress nor asset rows.
"""

from __future__ import annotations

import enum
import logging

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from scraper.db import retry_transient
from scraper.models import Asset, JobStatus, ScrapeJob, utcnow

log = logging.getLogger(__name__)


class AssetWrite(enum.Enum):
    """What a fenced asset insert did."""

    STORED = "stored"
    DUPLICATE = "duplicate"  # this job already has this content (an earlier attempt stored it)
    REFUSED = "refused"  # the job is no longer this worker's: nothing was written


def held_by(worker_id: str, token: int | None) -> list[ColumnElement[bool]]:
    """The guard on every worker write: still running, still this worker's, same claim."""
    guard = [ScrapeJob.status == JobStatus.RUNNING.value, ScrapeJob.locked_by == worker_id]
    if token is not None:
        guard.append(ScrapeJob.lease_token == token)
    return guard


def add_asset(
    session_factory: sessionmaker[Session], worker_id: str, token: int | None, row: Asset
) -> AssetWrite:
    """Insert the asset row in the same transaction as a guarded touch of its job's row.

    The touch takes the job's row lock, so a rescue or a new claim waits for this insert to
    commit (or finds it refused); a lost connection is retried, the checks make it idempotent.
    """
    written = retry_transient(
        lambda: _insert(session_factory, worker_id, token, row), f"asset of job {row.job_id}"
    )
    if written is AssetWrite.REFUSED:
        log.warning(
            "asset write refused: job %s is no longer held by %s (lease token %s): %s",
            row.job_id,
            worker_id,
            token,
            row.url,
            extra={"job_id": row.job_id, "worker": worker_id},
        )
    return written


def _insert(
    session_factory: sessionmaker[Session], worker_id: str, token: int | None, row: Asset
) -> AssetWrite:
    try:
        with session_factory() as s, s.begin():
            touched = s.execute(
                update(ScrapeJob)
                .where(ScrapeJob.id == row.job_id, *held_by(worker_id, token))
                .values(updated_at=utcnow())
            )
            if touched.rowcount != 1:  # type: ignore[attr-defined]
                return AssetWrite.REFUSED
            exists = s.scalar(
                select(Asset.id).where(Asset.job_id == row.job_id, Asset.sha256 == row.sha256)
            )
            if exists is not None:
                return AssetWrite.DUPLICATE
            s.add(_copy(row))
    except IntegrityError:
        return AssetWrite.DUPLICATE  # a concurrent insert of the same (job, sha256) won
    return AssetWrite.STORED


def _copy(row: Asset) -> Asset:
    """A fresh instance per attempt: a retried transaction must not reuse a flushed one."""
    values = {c.key: getattr(row, c.key) for c in Asset.__table__.columns}
    return Asset(**{name: value for name, value in values.items() if value is not None})
