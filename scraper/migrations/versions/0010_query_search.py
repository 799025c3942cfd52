"""`q` served by an index (issue 23): a substring search that fits each database.

- PostgreSQL: the pg_trgm extension (created if missing; a clear error naming what to do when
  this role may not) and the GIN index `ix_scrape_jobs_query_trgm`, built CONCURRENTLY.
- MariaDB: the side table `scrape_job_trigrams` and its triggers (DDL: metadata locks only),
  then the existing jobs' trigrams backfilled in batches (textsearch.BACKFILL_BATCH), each
  its own commit.
- SQLite: the FTS5 table `scrape_jobs_fts` (trigram tokenizer) and its triggers, then the
  existing jobs backfilled in batches by rowid.

The triggers exist before the backfill starts, so a job written meanwhile is indexed by its
own transaction; the backfill skips what is already there. See scraper.textsearch.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from scraper import textsearch
from scraper.migrations.online import create_indexes, drop_indexes, may_leave_transaction
from scraper.textsearch import (
    PG_INDEX,
    backfill_batch,
    create_statements,
    drop_statements,
    ensure_pg_trgm,
)

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PG_INDEXES = ((PG_INDEX, "scrape_jobs", ("query gin_trgm_ops",)),)


def upgrade() -> None:
    """Apply this revision."""
    context = op.get_context()
    dialect = context.dialect.name
    if dialect == "postgresql":
        database = "" if context.as_sql else str(op.get_bind().engine.url.database)
        ensure_pg_trgm(op.execute, database)
        create_indexes(PG_INDEXES, method="gin")
        return
    for statement in create_statements(dialect):
        op.execute(statement)
    if context.as_sql:
        everything = {"low": _lowest(dialect), "high": _top(dialect)}
        op.execute(text(backfill_batch(dialect)).bindparams(**everything))
    elif may_leave_transaction(context):
        with context.autocommit_block():
            _backfill(context, dialect)
    else:
        _backfill(context, dialect)


def _lowest(dialect: str) -> int | str:
    return 0 if dialect == "sqlite" else ""


def _top(dialect: str) -> int | str:
    return 2**63 - 1 if dialect == "sqlite" else "\U0010ffff" * 36


def _backfill(context: MigrationContext, dialect: str) -> None:
    """The jobs that predate the triggers, a batch at a time in key order."""
    key = "rowid" if dialect == "sqlite" else "id"
    bind = context.connection
    assert bind is not None
    next_upper = text(
        f"SELECT MAX(k) FROM (SELECT {key} AS k FROM scrape_jobs WHERE {key} > :low "
        f"ORDER BY {key} LIMIT {textsearch.BACKFILL_BATCH}) batch"
    )
    low: int | str = _lowest(dialect)
    while (upper := bind.scalar(next_upper, {"low": low})) is not None:
        bind.execute(text(backfill_batch(dialect)), {"low": low, "high": upper})
        low = upper


def downgrade() -> None:
    """Revert this revision (pg_trgm stays: other objects may use it)."""
    dialect = op.get_context().dialect.name
    if dialect == "postgresql":
        drop_indexes(PG_INDEXES)
        return
    for statement in drop_statements(dialect):
        op.execute(statement)
