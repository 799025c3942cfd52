"""Schedules, their runs (one per tick) and the seen items of incremental jobs; jobs name the
schedule that fired them and whether they skip items already seen.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from scraper.migrations.online import create_indexes, drop_indexes
from scraper.models import UTCDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


JOB_INDEXES = (("ix_scrape_jobs_schedule_id", "scrape_jobs", ("schedule_id",)),)


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "schedules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("query", sa.String(500), nullable=False),
        sa.Column("max_content", sa.Integer(), nullable=False),
        sa.Column("safe_search", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("enabled_sources", sa.JSON(), nullable=False),
        sa.Column("incremental", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("cron", sa.String(120), nullable=False),
        sa.Column("timezone", sa.String(64), server_default="UTC", nullable=False),
        sa.Column("paused", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("paused_reason", sa.String(500), nullable=True),
        sa.Column("next_run_at", UTCDateTime(), nullable=True),
        sa.Column("last_run_at", UTCDateTime(), nullable=True),
        sa.Column("last_job_id", sa.String(36), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_schedules_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedules")),
    )
    op.create_index(op.f("ix_schedules_user_id"), "schedules", ["user_id"])
    op.create_index(op.f("ix_schedules_paused_next_run_at"), "schedules", ["paused", "next_run_at"])
    op.create_table(
        "schedule_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("schedule_id", sa.Integer(), nullable=False),
        sa.Column("fire_at", UTCDateTime(), nullable=False),
        sa.Column("job_id", sa.String(36), nullable=True),
        sa.Column("fired_by", sa.String(128), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["schedules.id"],
            name=op.f("fk_schedule_runs_schedule_id_schedules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule_runs")),
        sa.UniqueConstraint(
            "schedule_id", "fire_at", name=op.f("uq_schedule_runs_schedule_id_fire_at")
        ),
    )
    op.create_table(
        "seen_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(32), nullable=False),
        sa.Column("schedule_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("item_hash", sa.String(64), nullable=False),
        sa.Column("item_key", sa.String(2048), nullable=False),
        sa.Column("job_id", sa.String(36), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["schedules.id"],
            name=op.f("fk_seen_items_schedule_id_schedules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seen_items")),
        sa.UniqueConstraint(
            "scope", "source", "item_hash", name=op.f("uq_seen_items_scope_source_item_hash")
        ),
    )
    op.create_index(op.f("ix_seen_items_schedule_id"), "seen_items", ["schedule_id"])
    op.add_column("scrape_jobs", sa.Column("schedule_id", sa.Integer(), nullable=True))
    op.add_column(
        "scrape_jobs",
        sa.Column("incremental", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    create_indexes(JOB_INDEXES)  # scrape_jobs is large and live: online


def downgrade() -> None:
    """Revert this revision."""
    drop_indexes(JOB_INDEXES)
    with op.batch_alter_table("scrape_jobs") as batch:
        batch.drop_column("incremental")
        batch.drop_column("schedule_id")
    op.drop_table("seen_items")
    op.drop_table("schedule_runs")
    op.drop_table("schedules")
