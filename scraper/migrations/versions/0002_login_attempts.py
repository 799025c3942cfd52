"""Login attempts: failed sign-ins, counted per account and per address by the throttle.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from scraper.models import UTCDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=80), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("attempted_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_attempts")),
    )
    for columns in (["attempted_at"], ["username", "attempted_at"], ["client", "attempted_at"]):
        name = op.f(f"ix_login_attempts_{'_'.join(columns)}")
        op.create_index(name, "login_attempts", columns, unique=False)


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("login_attempts")
