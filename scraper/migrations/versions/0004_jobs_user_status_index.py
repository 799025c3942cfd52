"""Index scrape_jobs (user_id, status, created_at) for a user's dashboard poll.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 03:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_index(
        op.f("ix_scrape_jobs_user_id_status_created_at"),
        "scrape_jobs",
        ["user_id", "status", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index(op.f("ix_scrape_jobs_user_id_status_created_at"), table_name="scrape_jobs")
