"""Comparer: missing, unexpected and probably renamed columns of one table."""

from __future__ import annotations

from functools import partial
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Column, Table

from ops.schema.compare.attributes import compare_column_attributes
from ops.schema.compare.context import Context, alembic_ops, column_copy
from ops.schema.ddl import add_column_sql
from ops.schema.difference import Difference, Repair, Severity
from ops.schema.live import LiveTable
from ops.schema.normalize import shape


def backfill_value(column: Column[Any]) -> tuple[bool, Any]:
    """The model default used to fill existing rows: (found, value)."""
    default: Any = column.default
    if default is None:
        return False, None
    if default.is_callable:
        return True, default.arg(None)
    if default.is_scalar:
        return True, default.arg
    return False, None


def needs_no_backfill(column: Column[Any]) -> bool:
    """True when one ADD COLUMN adds it (NULL allowed, or the database fills it)."""
    return bool(column.nullable or column.server_default is not None or column.primary_key)


def add_column_operations(table: str, column: Column[Any]) -> list[Any]:
    """ADD COLUMN; a NOT NULL one without server default goes nullable, backfill, NOT NULL."""
    ops = alembic_ops()
    copy = column_copy(column)
    # The column's own index or unique key (`index=True`, `unique=True`) is a difference of its
    # own (missing_index, missing_unique_constraint, built online); left on the copy, Alembic
    # would build it here too and the second build fails.
    copy.index = None
    copy.unique = None
    if needs_no_backfill(column):
        return [ops.AddColumnOp(table, copy)]
    copy.nullable = True
    steps: list[Any] = [ops.AddColumnOp(table, copy)]
    found, value = backfill_value(column)
    if found:
        target = sa.table(table, sa.column(column.name, column.type))
        update = target.update().where(target.c[column.name].is_(None)).values({column.name: value})
        steps.append(ops.ExecuteSQLOp(update))
    steps.append(
        ops.AlterColumnOp(table, column.name, modify_nullable=False, existing_type=column.type)
    )
    return steps


def _text(value: str | None) -> Any:
    return None if value is None else sa.text(value)


def _unexpected(ctx: Context, table: str, live: dict[str, Any]) -> Difference:
    name, blocking = live["name"], not live["nullable"] and live.get("default") is None
    if blocking and live.get("autoincrement") is not True:

        def relax() -> list[Any]:
            return [
                alembic_ops().AlterColumnOp(
                    table,
                    name,
                    modify_nullable=True,
                    existing_type=live["type"],
                    existing_nullable=False,
                )
            ]

        return ctx.diff(
            table,
            name,
            "unexpected_column",
            Severity.CRITICAL,
            None,
            f"{live['type']} NOT NULL without default",
            relax,
            why="every insert from the models fails: relax it to NULL (no data lost)",
        )
    return ctx.diff(
        table,
        name,
        "unexpected_column",
        Severity.INFO,
        None,
        str(live["type"]),
        lambda: [alembic_ops().DropColumnOp(table, name)],
        repair=Repair.DESTRUCTIVE,
        why="not in the models; dropping it loses data: needs --allow-destructive",
    )


def _rename(ctx: Context, table: str, old: dict[str, Any], new: Column[Any]) -> Difference:
    def rename() -> list[Any]:
        return [
            alembic_ops().AlterColumnOp(
                table,
                old["name"],
                modify_name=new.name,
                existing_type=old["type"],
                existing_nullable=old["nullable"],
                existing_server_default=_text(old.get("default")),
            )
        ]

    return ctx.diff(
        table,
        new.name,
        "probable_rename",
        Severity.CRITICAL,
        new.name,
        old["name"],
        rename,
        repair=Repair.DESTRUCTIVE,
        why=f"column {old['name']!r} looks renamed to {new.name!r}; rename it (keeps the data) "
        "with --allow-destructive, or add the column by hand",
    )


def _pair_renames(
    ctx: Context, missing: list[Column[Any]], unexpected: list[dict[str, Any]]
) -> list[tuple[dict[str, Any], Column[Any]]]:
    pairs, left = [], list(unexpected)
    for column in missing:
        want = shape(column.type, ctx.dialect)
        match = next((u for u in left if shape(u["type"], ctx.dialect) == want), None)
        if match is not None:
            left.remove(match)
            pairs.append((match, column))
    return pairs


def rowid_alias(ctx: Context, live: LiveTable) -> str | None:
    """SQLite's `INTEGER PRIMARY KEY` column is the rowid: never NULL, whatever it declares."""
    key = live.primary_key.get("constrained_columns") or []
    if ctx.dialect.name != "sqlite" or len(key) != 1:
        return None
    column = live.column(key[0])
    return key[0] if column is not None and isinstance(column["type"], sa.INTEGER) else None


def compare_columns(ctx: Context, model: Table, live: LiveTable) -> list[Difference]:
    """Missing columns are critical; a missing + unexpected pair of one type is a rename."""
    table, found = model.name, []
    live_names = {c["name"] for c in live.columns}
    missing = [c for c in model.columns if c.name not in live_names]
    unexpected = [c for c in live.columns if c["name"] not in model.columns]
    for old, new in _pair_renames(ctx, missing, unexpected):
        found.append(_rename(ctx, table, old, new))
        missing.remove(new)
        unexpected.remove(old)
    for column in missing:
        found.append(
            ctx.diff(
                table,
                column.name,
                "missing_column",
                Severity.CRITICAL,
                str(shape(column.type, ctx.dialect)),
                None,
                partial(add_column_operations, table, column),
                why="the models read and write it: every query on the table fails",
                ddl=partial(add_column_sql, ctx.dialect, table, column)
                if needs_no_backfill(column)
                else None,
            )
        )
    found.extend(_unexpected(ctx, table, c) for c in unexpected)
    rowid = rowid_alias(ctx, live)
    for column in model.columns:
        reflected = live.column(column.name)
        if reflected is not None and column.name == rowid:
            reflected = dict(reflected, nullable=False)
        if reflected is not None:
            found.extend(compare_column_attributes(ctx, table, column, reflected))
    return found
