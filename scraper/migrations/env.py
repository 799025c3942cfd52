"""Alembic environment: online with a passed-in connection (or the configured URL), or offline."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from scraper.db import make_engine
from scraper.models import Base

config = context.config
target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )


# A migration's DDL waits at most this long for a lock (PostgreSQL): queued behind a long
# transaction it would stop every later query on the table. The caller retries the upgrade.
LOCK_TIMEOUT = "1s"


def _bound_lock_waits(dialect_name: str) -> None:
    if dialect_name == "postgresql":
        context.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")


def run_offline() -> None:
    """Emit the migration SQL to stdout without a database."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        compare_type=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        _bound_lock_waits(context.get_context().dialect.name)
        context.run_migrations()


def run_online() -> None:
    """Run on `config.attributes["connection"]` when given, else on a new engine."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            _bound_lock_waits(connection.dialect.name)
            context.run_migrations()
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        _configure(conn)
        with context.begin_transaction():
            _bound_lock_waits(conn.dialect.name)
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
