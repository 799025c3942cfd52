"""Comparer: tables the models have and the database lacks, and the reverse."""

from __future__ import annotations

from functools import partial
from typing import Any

from sqlalchemy import Dialect, Table

from ops.schema.compare.context import Context, alembic_ops
from ops.schema.compare.extras import declared_tables
from ops.schema.ddl import applies, create_table_sql
from ops.schema.difference import Difference, Repair, Severity
from ops.schema.live import LiveSchema


def create_table_operations(table: Table, dialect: Dialect) -> list[Any]:
    """CREATE TABLE plus its indexes (those for this dialect), as Alembic operations."""
    ops = alembic_ops()
    result: list[Any] = [ops.CreateTableOp.from_table(table)]
    indexes = [i for i in table.indexes if applies(i, dialect)]
    for index in sorted(indexes, key=lambda i: str(i.name)):
        result.append(ops.CreateIndexOp.from_index(index))
    return result


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
    for name in sorted(set(live.tables) - set(ctx.metadata.tables) - declared_tables(ctx)):
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
