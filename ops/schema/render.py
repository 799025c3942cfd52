"""Render Alembic operations as DDL for one dialect (offline `as_sql`): a difference's fix."""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

from alembic.migration import MigrationContext
from alembic.operations import Operations, ops
from sqlalchemy import Dialect, MetaData
from sqlalchemy.dialects import postgresql

# SQLite cannot ALTER columns or constraints in place; Alembic rebuilds the table (batch mode).
_SQLITE_REBUILD = (
    ops.AlterColumnOp,
    ops.CreateForeignKeyOp,
    ops.CreateUniqueConstraintOp,
    ops.CreateCheckConstraintOp,
    ops.DropConstraintOp,
    ops.DropColumnOp,
)


def op_table(op: ops.MigrateOperation) -> str:
    """The table an operation acts on."""
    target = getattr(getattr(op, "sqltext", None), "table", None)  # an UPDATE's table
    name = getattr(op, "table_name", None) or getattr(op, "source_table", None)
    return str(name or getattr(target, "name", None) or "?")


def needs_rebuild(dialect: Dialect, op: ops.MigrateOperation) -> bool:
    """True when this operation must run as a batch table rebuild on this dialect."""
    return dialect.name == "sqlite" and isinstance(op, _SQLITE_REBUILD)


def offline_operations(
    dialect: Dialect, metadata: MetaData | None = None
) -> tuple[Operations, io.StringIO]:
    """An `as_sql` Operations object whose DDL lands in the returned buffer."""
    buffer = io.StringIO()
    opts: dict[str, Any] = {"as_sql": True, "output_buffer": buffer, "literal_binds": True}
    if metadata is not None:
        opts["target_metadata"] = metadata
    context = MigrationContext.configure(dialect=dialect, opts=opts)
    return Operations(context), buffer


def render_operations(
    dialect: Dialect,
    operations: Iterable[ops.MigrateOperation],
    metadata: MetaData | None = None,
) -> str:
    """The DDL these operations would run on this dialect, one statement per line."""
    lines: list[str] = []
    for op in operations:
        if needs_rebuild(dialect, op):
            table = op_table(op)
            lines.append(f"-- SQLite rebuilds table {table} (batch mode) to apply:")
            lines.append(_render_one(_generic(dialect), op, metadata))
            continue
        lines.append(_render_one(dialect, op, metadata))
    return "\n".join(line for line in lines if line)


def _generic(dialect: Dialect) -> Dialect:
    return postgresql.dialect()


def _render_one(dialect: Dialect, op: ops.MigrateOperation, metadata: MetaData | None) -> str:
    operations, buffer = offline_operations(dialect, metadata)
    try:
        operations.invoke(op)
    except Exception as exc:  # a fix we cannot print is still a fix we can describe
        return f"-- {type(op).__name__} on {op_table(op)}: {exc}"
    statements = [s.strip() for s in buffer.getvalue().split(";\n") if s.strip()]
    return "\n".join(" ".join(s.split()) + ";" for s in statements)
