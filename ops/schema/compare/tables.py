"""Comparer: tables the models have and the database lacks, and the reverse."""

from __future__ import annotations

from functools import partial
from typing import Any

from sqlalchemy import Dialect, Table

from ops.schema.compare.context import Context, alembic_ops
from ops.schema.ddl import applies, create_table_sql
from ops.schema.difference import Difference, Repair, Severity
from ops.schema.extras import declared, declared_tables
from ops.schema.live import LiveSchema


def create_table_operations(table: Table, dialect: Dialect) -> list[Any]:
    """CREATE TABLE plus its indexes (those for this dialect) and its declared extra objects
    (an extension first; triggers and side tables after), as Alembic operations."""
    from ops.schema.extra_ops import create_operations  # imports Alembic

    ops = alembic_ops()
    extras = declared(table.metadata, dialect.name, table.name)
    result: list[Any] = create_operations([e for e in extras if e.before_table], [])
    result.append(ops.CreateTableOp.from_table(table))
    indexes = [i for i in table.indexes if applies(i, dialect)]
    for index in sorted(indexes, key=lambda i: str(i.name)):
        result.append(ops.CreateIndexOp.from_index(index))
    return result + create_operations([e for e in extras if not e.before_table], extras)


def compare_tables(ctx: Context, live: LiveSchema) -> list[Difference]:
    """Missing tables are critical (every query on them fails); unexpected ones are info."""
    found: list[Difference] = []
    for name, table in ctx.metadata.tables.items():
        if name not in live.tables:
            found.append(
                ctx.diff(
                    name,
                    None,
                    "missing_table",
                    Severity.CRITICAL,
                    "table",
                    None,
                    partial(create_table_operations, table, ctx.dialect),
                    ddl=partial(create_table_sql, ctx.dialect, table),
                )
            )
    for name in sorted(
        set(live.tables)
        - set(ctx.metadata.tables)
        - declared_tables(ctx.metadata, ctx.dialect.name)
    ):
        found.append(
            ctx.diff(
                name,
                None,
                "unexpected_table",
                Severity.INFO,
                None,
                "table",
                repair=Repair.MANUAL,
                why="not in the models; drop it by hand if nothing else uses it",
            )
        )
    return found
