"""Add scrape_jobs.lease_token: a fencing token that grows with every claim.

Every write a worker makes for a job (progress, assets, completion) names the token it got
when it claimed the job, so a worker woken after its lease was rescued writes nothing.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 15:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.add_column(
        "scrape_jobs",
        sa.Column("lease_token", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("scrape_jobs") as batch:
        batch.drop_column("lease_token")
