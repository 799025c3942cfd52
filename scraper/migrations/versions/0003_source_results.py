"""Per-source job results, and asset author and landing page.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 03:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.add_column("scrape_jobs", sa.Column("result", sa.JSON(), nullable=True))
    op.add_column("assets", sa.Column("author", sa.String(length=255), nullable=True))
    op.add_column("assets", sa.Column("landing_url", sa.String(length=2048), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("assets") as batch:
        batch.drop_column("landing_url")
        batch.drop_column("author")
    with op.batch_alter_table("scrape_jobs") as batch:
        batch.drop_column("result")
