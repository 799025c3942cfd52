"""SQLite: jobs per (user, state) kept by triggers in `scrape_job_counts` (issue 23).

The table and its triggers (scraper.statecounts), then every job counted once, all in the
migration's transaction: SQLite's one write lock keeps the jobs still while they are counted
(one covering read of `(user_id, status, created_at)`: about 0.3 s at 1 M jobs, a job
insert waits for it within its busy timeout), so no write falls between the triggers and the
count. PostgreSQL and MariaDB keep their planner estimates: nothing to do.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 23:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from scraper.statecounts import FILL, create_statements, drop_statements

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    dialect = op.get_context().dialect.name
    for statement in create_statements(dialect):
        op.execute(statement)
    if dialect == "sqlite":
        for statement in FILL:
            op.execute(statement)


def downgrade() -> None:
    """Revert this revision."""
    for statement in drop_statements(op.get_context().dialect.name):
        op.execute(statement)
