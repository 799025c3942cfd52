"""DDL for the common additive fixes rendered by SQLAlchemy alone (no Alembic import).

A report of missing tables, columns and indexes prints its fixes without loading Alembic's
operations and DDL modules; every other fix is rendered by `render.render_operations`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Dialect, Index, Table
from sqlalchemy.schema import CreateIndex, CreateTable, ExecutableDDLElement

from ops.schema.extras import declared, fills


def _statement(element: ExecutableDDLElement, dialect: Dialect) -> str:
    return " ".join(str(element.compile(dialect=dialect)).split()) + ";"


def add_column_sql(dialect: Dialect, table: str, column: Column[Any]) -> str:
    """`ALTER TABLE ... ADD COLUMN ...` for a column needing no backfill."""
    compiler = dialect.ddl_compiler(dialect, CreateTable(column.table))
    preparer = dialect.identifier_preparer
    spec = compiler.get_column_specification(column)
    return f"ALTER TABLE {preparer.quote(table)} ADD COLUMN {spec};"


def create_index_sql(dialect: Dialect, index: Index) -> str:
    """`CREATE [UNIQUE] INDEX ...`."""
    return _statement(CreateIndex(index), dialect)


def create_table_sql(dialect: Dialect, table: Table) -> str:
    """`CREATE TABLE` plus its indexes and declared extra objects, one statement per line."""
    indexes = sorted((i for i in table.indexes if applies(i, dialect)), key=lambda i: str(i.name))
    extras = declared(table.metadata, dialect.name, table.name)
    lines = [f"{e.create};" for e in extras if e.before_table]
    lines += [_statement(CreateTable(table), dialect)]
    lines += [create_index_sql(dialect, index) for index in indexes]
    after = [e.create for e in extras if not e.before_table] + fills(extras)
    return "\n".join(lines + [f"{statement};" for statement in after])


def applies(index: Index, dialect: Dialect) -> bool:
    """False for an index the model creates on other dialects only (`Index.ddl_if(dialect=)`)."""
    condition = getattr(index, "_ddl_if", None)
    wanted = getattr(condition, "dialect", None)
    if wanted is None:
        return True
    return dialect.name == wanted if isinstance(wanted, str) else dialect.name in wanted
