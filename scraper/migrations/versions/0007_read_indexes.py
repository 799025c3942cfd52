"""Indexes for reads at millions of jobs (issue 23), built without blocking job writes.

- scrape_jobs (created_at, id): the newest-first page and its keyset cursor; jobs created per
  stats bucket.
- scrape_jobs (finished_at, status): jobs completed / failed per stats bucket; the doctor's
  latest finished jobs.
- scrape_jobs (progress, created_at): the `sort=progress` pages.
- assets (created_at, size_bytes): files and bytes stored per stats bucket, index only.

Built online by scraper.migrations.online (CONCURRENTLY on PostgreSQL, INPLACE on MariaDB).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from scraper.migrations.online import create_indexes, drop_indexes

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("ix_scrape_jobs_created_at_id", "scrape_jobs", ("created_at", "id")),
    ("ix_scrape_jobs_finished_at_status", "scrape_jobs", ("finished_at", "status")),
    ("ix_scrape_jobs_progress_created_at", "scrape_jobs", ("progress", "created_at")),
    ("ix_assets_created_at_size_bytes", "assets", ("created_at", "size_bytes")),
)


def upgrade() -> None:
    """Apply this revision."""
    create_indexes(INDEXES)


def downgrade() -> None:
    """Revert this revision."""
    drop_indexes(INDEXES)
