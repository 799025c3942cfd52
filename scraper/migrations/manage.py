"""The scraper's models and migrations bound to the `ops.schema` library.

The one module through which the service reaches the ops toolkit: start-up auto-heal,
`/readyz`, the metrics collector and `ops doctor` call these instead of passing the
scraper's MetaData and Alembic scripts themselves.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from ops import schema as library
from ops.schema import SchemaReport
from ops.schema.scripts import Migrations
from scraper.migrations import MIGRATIONS_DIR
from scraper.models import Base

if TYPE_CHECKING:  # the repair half loads Alembic: only init_db, migrate and auto_heal need it
    from ops.schema import InitReport, MigrateReport

MIGRATIONS = Migrations(MIGRATIONS_DIR)


def check_schema(engine: Engine) -> SchemaReport:
    """Compare scraper.models with the live schema."""
    return library.check_schema(engine, Base.metadata)


def init_db(engine: Engine) -> InitReport:
    """Create the scraper's missing tables and stamp the migration head."""
    return library.init_db(engine, Base.metadata, MIGRATIONS)


def migrate(
    engine: Engine,
    dry_run: bool = False,
    sql: bool = False,
    allow_destructive: bool = False,
    backup_dir: Path | None = None,
    allow_blocking: bool = False,
) -> MigrateReport:
    """Upgrade to scraper/migrations' head, then repair the remaining drift (online only,
    unless `allow_blocking`)."""
    return library.migrate(
        engine,
        Base.metadata,
        MIGRATIONS,
        dry_run,
        sql,
        allow_destructive,
        backup_dir,
        allow_blocking,
    )


def auto_heal(engine: Engine) -> MigrateReport:
    """The additive start-up repair (SCRAPER_AUTO_HEAL=safe)."""
    return library.auto_heal(engine, Base.metadata, MIGRATIONS)


def head_revision() -> str:
    """The newest revision shipped in scraper/migrations."""
    return MIGRATIONS.head()
