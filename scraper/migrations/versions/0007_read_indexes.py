"""Indexes for reads at millions of jobs (issue 23), built without blocking job writes.

- scrape_jobs (created_at, id): the newest-first page and its keyset cursor; jobs created per
  stats bucket.
- scrape_jobs (finished_at, status): jobs completed / failed per stats bucket; the doctor's
  latest finished jobs.
- scrape_jobs (progress, created_at): the `sort=progress` pages.
- assets (created_at, size_bytes): files and bytes stored per stats bucket, index only.

PostgreSQL builds them with `CREATE INDEX CONCURRENTLY` outside a transaction (an invalid
leftover of an interrupted build is dropped and built again); when the caller runs the
migrations inside its own transaction that cannot be committed here, a plain `CREATE INDEX`
is the only possibility. MariaDB builds them online (`ALGORITHM=INPLACE, LOCK=NONE`).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

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


def _may_leave_transaction(context: MigrationContext) -> bool:
    """True unless the caller holds a transaction Alembic did not begin (it cannot commit it)."""
    if context.as_sql or context.connection is None:
        return True
    return not context.connection.in_transaction() or context._transaction is not None


def _invalid(name: str) -> bool:
    """An index left invalid by an interrupted concurrent build (it serves no query)."""
    found = op.get_bind().execute(
        text(
            "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname = :name AND NOT i.indisvalid"
        ),
        {"name": name},
    )
    return found.first() is not None


def _upgrade_postgresql() -> None:
    context = op.get_context()
    if not _may_leave_transaction(context):
        for name, table, columns in INDEXES:
            op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({', '.join(columns)})")
        return
    with context.autocommit_block():
        for name, table, columns in INDEXES:
            if not context.as_sql and _invalid(name):
                op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
            op.execute(
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} ({', '.join(columns)})"
            )


def upgrade() -> None:
    """Apply this revision."""
    dialect = op.get_context().dialect.name
    if dialect == "postgresql":
        _upgrade_postgresql()
        return
    for name, table, columns in INDEXES:
        if dialect == "mysql":
            op.execute(
                f"ALTER TABLE {table} ADD INDEX IF NOT EXISTS {name} ({', '.join(columns)}), "
                "ALGORITHM=INPLACE, LOCK=NONE"
            )
        else:
            op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({', '.join(columns)})")


def downgrade() -> None:
    """Revert this revision."""
    context = op.get_context()
    dialect = context.dialect.name
    for name, table, _ in reversed(INDEXES):
        if dialect == "mysql":
            op.execute(
                f"ALTER TABLE {table} DROP INDEX IF EXISTS {name}, ALGORITHM=INPLACE, LOCK=NONE"
            )
        elif dialect == "postgresql" and _may_leave_transaction(context):
            with context.autocommit_block():
                op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
        else:
            op.execute(f"DROP INDEX IF EXISTS {name}")
