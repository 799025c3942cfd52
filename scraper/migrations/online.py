"""Indexes on live tables, built without blocking job writes: the one way a migration adds one.

PostgreSQL builds them with `CREATE INDEX CONCURRENTLY` outside a transaction (an invalid
leftover of an interrupted build is dropped and built again); when the caller runs the
migrations inside its own transaction that cannot be committed here, a plain `CREATE INDEX`
is the only possibility. MariaDB builds them online (`ALGORITHM=INPLACE, LOCK=NONE`).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

Index = tuple[str, str, tuple[str, ...]]  # (name, table, columns)


def may_leave_transaction(context: MigrationContext) -> bool:
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


def _create_postgresql(indexes: Sequence[Index], method: str) -> None:
    context = op.get_context()
    using = f" USING {method}" if method != "btree" else ""
    if not may_leave_transaction(context):
        for name, table, columns in indexes:
            op.execute(
                f"CREATE INDEX IF NOT EXISTS {name} ON {table}{using} ({', '.join(columns)})"
            )
        return
    with context.autocommit_block():
        for name, table, columns in indexes:
            if not context.as_sql and _invalid(name):
                op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
            op.execute(
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} "
                f"ON {table}{using} ({', '.join(columns)})"
            )


def create_indexes(indexes: Sequence[Index], method: str = "btree") -> None:
    """Create each index online, as this database allows; `method` (PostgreSQL's access
    method, e.g. gin with an operator class after the column) applies to all of them."""
    dialect = op.get_context().dialect.name
    if dialect == "postgresql":
        _create_postgresql(indexes, method)
        return
    for name, table, columns in indexes:
        if dialect == "mysql":
            op.execute(
                f"ALTER TABLE {table} ADD INDEX IF NOT EXISTS {name} ({', '.join(columns)}), "
                "ALGORITHM=INPLACE, LOCK=NONE"
            )
        else:
            op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({', '.join(columns)})")


def drop_indexes(indexes: Sequence[Index]) -> None:
    """Drop each index online, in reverse order."""
    context = op.get_context()
    dialect = context.dialect.name
    for name, table, _ in reversed(indexes):
        if dialect == "mysql":
            op.execute(
                f"ALTER TABLE {table} DROP INDEX IF EXISTS {name}, ALGORITHM=INPLACE, LOCK=NONE"
            )
        elif dialect == "postgresql" and may_leave_transaction(context):
            with context.autocommit_block():
                op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
        else:
            op.execute(f"DROP INDEX IF EXISTS {name}")
