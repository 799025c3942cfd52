"""The stats rollup (issue 23): counters per five-minute slot, user and source, so that
`/api/stats` reads a few rows per slot instead of every job in its window.

The table is created, then filled from the jobs and assets already there by
`scraper.rollup.backfill`: batches of jobs in primary-key order, each a short read (no lock on
`scrape_jobs` or `assets`; outside the migration's transaction where the caller lets it leave
it, so nothing is held for the whole fill). A fill that was interrupted starts over: the table
is emptied first. From then on the service keeps it in the same transaction as each write.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 20:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from scraper.migrations.online import may_leave_transaction
from scraper.rollup import backfill

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTERS = ("created", "completed", "failed", "files", "bytes", "found", "stored")


def upgrade() -> None:
    """Apply this revision."""
    context = op.get_context()
    if context.as_sql or not sa.inspect(op.get_bind()).has_table("stats_rollup"):
        op.create_table(
            "stats_rollup",
            sa.Column("slot", sa.Integer(), autoincrement=False, nullable=False),
            sa.Column("user_id", sa.Integer(), autoincrement=False, nullable=False),
            sa.Column("source", sa.String(64), nullable=False),
            sa.Column("shard", sa.Integer(), autoincrement=False, nullable=False),
            *(
                sa.Column(name, sa.BigInteger(), server_default=sa.text("0"), nullable=False)
                for name in COUNTERS
            ),
            sa.PrimaryKeyConstraint(
                "slot", "user_id", "source", "shard", name=op.f("pk_stats_rollup")
            ),
        )
        op.create_index(op.f("ix_stats_rollup_user_id_slot"), "stats_rollup", ["user_id", "slot"])
    if context.as_sql:
        return  # offline SQL: no rows to count
    op.execute("DELETE FROM stats_rollup")  # a fill interrupted before: count again
    if may_leave_transaction(context):
        with context.autocommit_block():
            backfill(op.get_bind())
    else:
        backfill(op.get_bind())


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("stats_rollup")
