"""Asset rows: one per stored file per job, recorded once even when a job is re-run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

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


def asset_row(job_id: str, source: str, item: MediaItem, stored: StoredFile) -> Asset:
    """The row recording one stored file of a job (written by the fenced `add_asset`)."""
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


@dataclass(frozen=True)
class StoredKey:
    """What a resumed job needs to know of an asset an earlier attempt stored."""

    source: str
    url: str
    sha256: str
    size_bytes: int


def stored_keys(session_factory: sessionmaker[Session], job_id: str) -> list[StoredKey]:
    """The job's assets already in the database, oldest first."""
    columns = (Asset.source, Asset.url, Asset.sha256, Asset.size_bytes)
    with session_factory() as s:
        rows = s.execute(select(*columns).where(Asset.job_id == job_id).order_by(Asset.id))
        return [StoredKey(*row) for row in rows]


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
