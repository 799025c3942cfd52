"""Asset rows: one per stored file per job, recorded once even when a job is re-run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from scraper.db import retry_transient
from scraper.models import Asset, ScrapeJob
from scraper.sources.base import MediaItem
from scraper.storage import StoredFile


@dataclass(frozen=True)
class AssetRecord:
    id: int
    job_id: str
    source: str
    url: str
    path: str
    filename: str
    sha256: str
    size_bytes: int
    content_type: str
    title: str | None
    license: str | None
    author: str | None
    landing_url: str | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: Asset) -> AssetRecord:
        return cls(**{name: getattr(row, name) for name in cls.__dataclass_fields__})

    def to_json(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["created_at"] = self.created_at.isoformat()
        data.pop("path")
        return data


def record_asset(
    session_factory: sessionmaker[Session],
    job_id: str,
    source: str,
    item: MediaItem,
    stored: StoredFile,
) -> bool:
    """Insert the asset unless this job already has this content; True if inserted.

    A lost connection is retried: the existence check makes a repeated insert a no-op.
    """
    return retry_transient(
        lambda: _insert_asset(session_factory, job_id, source, item, stored),
        f"asset of job {job_id}",
    )


def record_assets(
    session_factory: sessionmaker[Session],
    job_id: str,
    entries: Sequence[tuple[str, MediaItem, StoredFile]],
) -> int:
    """Insert the (source, item, file) entries this job does not have yet, in one transaction;
    return how many were inserted. A job's download pool records what finished together at
    once: one commit (one fsync) for many files instead of one each."""
    if len(entries) == 1:
        return int(record_asset(session_factory, job_id, *entries[0]))
    try:
        return retry_transient(
            lambda: _insert_many(session_factory, job_id, entries), f"assets of job {job_id}"
        )
    except IntegrityError:  # a concurrent insert of one of them: sort it out one by one
        return sum(record_asset(session_factory, job_id, *entry) for entry in entries)


def _insert_many(
    session_factory: sessionmaker[Session],
    job_id: str,
    entries: Sequence[tuple[str, MediaItem, StoredFile]],
) -> int:
    shas = {stored.sha256 for _source, _item, stored in entries}
    with session_factory() as s, s.begin():
        have = set(
            s.scalars(select(Asset.sha256).where(Asset.job_id == job_id, Asset.sha256.in_(shas)))
        )
        rows = []
        for source, item, stored in entries:
            if stored.sha256 not in have:
                have.add(stored.sha256)
                rows.append(_row(job_id, source, item, stored))
        s.add_all(rows)
    return len(rows)


def _insert_asset(
    session_factory: sessionmaker[Session],
    job_id: str,
    source: str,
    item: MediaItem,
    stored: StoredFile,
) -> bool:
    row = _row(job_id, source, item, stored)
    try:
        with session_factory() as s, s.begin():
            exists = s.scalar(
                select(Asset.id).where(Asset.job_id == job_id, Asset.sha256 == stored.sha256)
            )
            if exists is not None:
                return False
            s.add(row)
    except IntegrityError:
        return False  # a concurrent insert of the same (job, sha256) won the unique constraint
    return True


def _row(job_id: str, source: str, item: MediaItem, stored: StoredFile) -> Asset:
    return Asset(
        job_id=job_id,
        source=source,
        url=item.url[:2048],
        path=stored.path,
        filename=stored.filename,
        sha256=stored.sha256,
        size_bytes=stored.size_bytes,
        content_type=stored.content_type,
        title=(item.title or "")[:500] or None,
        license=(item.license or "")[:128] or None,
        author=(item.author or "")[:255] or None,
        landing_url=(item.landing_url or "")[:2048] or None,
    )


def list_assets(
    session_factory: sessionmaker[Session],
    job_id: str | None = None,
    user_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[AssetRecord], int]:
    """One page of assets, newest first; `user_id` restricts to that user's jobs."""
    conditions = []
    if job_id is not None:
        conditions.append(Asset.job_id == job_id)
    if user_id is not None:
        conditions.append(ScrapeJob.user_id == user_id)
    base = select(Asset).join(ScrapeJob, ScrapeJob.id == Asset.job_id).where(*conditions)
    with session_factory() as s:
        total = s.scalar(select(func.count()).select_from(base.subquery())) or 0
        rows = s.scalars(base.order_by(Asset.id.desc()).limit(limit).offset(offset))
        return [AssetRecord.from_row(r) for r in rows], total


def get_asset(
    session_factory: sessionmaker[Session], asset_id: int, user_id: int | None = None
) -> AssetRecord | None:
    """The asset, or None if absent or (with `user_id`) not that user's."""
    stmt = select(Asset).join(ScrapeJob, ScrapeJob.id == Asset.job_id).where(Asset.id == asset_id)
    if user_id is not None:
        stmt = stmt.where(ScrapeJob.user_id == user_id)
    with session_factory() as s:
        row = s.scalar(stmt)
        return AssetRecord.from_row(row) if row is not None else None
