"""Comparers: foreign keys, the primary key and named CHECK constraints."""

from __future__ import annotations

from typing import Any

from alembic.operations import ops
from sqlalchemy import CheckConstraint, ForeignKeyConstraint, Table

from ops.schema.compare.context import Context, describe_columns
from ops.schema.difference import Difference, Repair, Severity
from ops.schema.live import LiveTable

FkKey = tuple[tuple[str, ...], str, tuple[str, ...]]
_DEFAULT_ACTIONS = {None, "NO ACTION", "RESTRICT"}


def _action(value: str | None) -> str | None:
    value = value.upper() if value else None
    return None if value in _DEFAULT_ACTIONS else value


def _model_fks(model: Table) -> dict[FkKey, ForeignKeyConstraint]:
    return {
        (
            tuple(e.parent.name for e in fk.elements),
            fk.elements[0].column.table.name,
            tuple(e.column.name for e in fk.elements),
        ): fk
        for fk in model.foreign_key_constraints
    }


def _describe(key: FkKey, ondelete: str | None) -> str:
    text = f"{describe_columns(key[0])} -> {key[1]}{describe_columns(key[2])}"
    return text + (f" ON DELETE {ondelete}" if ondelete else "")


def compare_foreign_keys(ctx: Context, model: Table, live: LiveTable) -> list[Difference]:
    """Foreign keys matched by columns and target; ON DELETE compared too."""
    table, found = model.name, []
    wanted = _model_fks(model)
    have = {
        (tuple(fk["constrained_columns"]), fk["referred_table"], tuple(fk["referred_columns"])): fk
        for fk in live.foreign_keys
    }
    for key, fk in wanted.items():
        create = ops.CreateForeignKeyOp.from_constraint(fk)
        want = _describe(key, _action(fk.ondelete))
        if key not in have:
            found.append(
                ctx.diff(
                    table,
                    ",".join(key[0]),
                    "missing_foreign_key",
                    Severity.WARNING,
                    want,
                    None,
                    [create],
                    why="fails if rows point nowhere",
                )
            )
            continue
        live_fk = have[key]
        ondelete = _action(live_fk.get("options", {}).get("ondelete"))
        if ondelete != _action(fk.ondelete) and live_fk.get("name"):
            drop = ops.DropConstraintOp(live_fk["name"], table, type_="foreignkey")
            found.append(
                ctx.diff(
                    table,
                    ",".join(key[0]),
                    "foreign_key_mismatch",
                    Severity.WARNING,
                    want,
                    _describe(key, ondelete),
                    [drop, create],
                    Repair.DESTRUCTIVE,
                    "recreating the key changes what deletes do: --allow-destructive",
                )
            )
    for key, live_fk in have.items():
        if key not in wanted:
            name = live_fk.get("name")
            drops = [ops.DropConstraintOp(name, table, type_="foreignkey")] if name else []
            found.append(
                ctx.diff(
                    table,
                    ",".join(key[0]),
                    "unexpected_foreign_key",
                    Severity.WARNING,
                    None,
                    _describe(key, _action(live_fk.get("options", {}).get("ondelete"))),
                    drops,
                    Repair.DESTRUCTIVE if drops else Repair.MANUAL,
                    "may reject the models' writes: drop it with --allow-destructive",
                )
            )
    return found


def compare_primary_key(ctx: Context, model: Table, live: LiveTable) -> list[Difference]:
    """A different primary key is critical and never changed automatically."""
    want = tuple(c.name for c in model.primary_key.columns)
    have = tuple(live.primary_key.get("constrained_columns") or ())
    if want == have:
        return []
    severity = Severity.CRITICAL if have else Severity.WARNING
    return [
        ctx.diff(
            model.name,
            ",".join(want),
            "primary_key_mismatch",
            severity,
            describe_columns(want),
            describe_columns(have) if have else None,
            repair=Repair.MANUAL,
            why="changing a primary key rewrites the table: do it by hand",
        )
    ]


def _is_json_check(ctx: Context, check: dict[str, Any], live: LiveTable) -> bool:
    """MariaDB adds CHECK (json_valid(col)) named after every JSON column."""
    sqltext = str(check.get("sqltext", "")).lower()
    return (
        ctx.dialect.name == "mysql"
        and "json_valid" in sqltext
        and live.column(str(check.get("name"))) is not None
    )


def compare_checks(ctx: Context, model: Table, live: LiveTable) -> list[Difference]:
    """Named CHECK constraints, matched by name (their SQL text differs per dialect)."""
    table, found = model.name, []
    wanted = {
        str(c.name): c for c in model.constraints if isinstance(c, CheckConstraint) and c.name
    }
    have = {
        str(c["name"]): c for c in live.checks if c.get("name") and not _is_json_check(ctx, c, live)
    }
    for name, check in wanted.items():
        if name not in have:
            create = ops.CreateCheckConstraintOp.from_constraint(check)
            found.append(
                ctx.diff(
                    table,
                    None,
                    "missing_check_constraint",
                    Severity.WARNING,
                    f"{name}: {check.sqltext}",
                    None,
                    [create],
                    why="fails if existing rows violate it",
                )
            )
    for name, live_check in have.items():
        if name not in wanted:
            drop = ops.DropConstraintOp(name, table, type_="check")
            found.append(
                ctx.diff(
                    table,
                    None,
                    "unexpected_check_constraint",
                    Severity.WARNING,
                    None,
                    f"{name}: {live_check.get('sqltext')}",
                    [drop],
                    Repair.DESTRUCTIVE,
                    "may reject writes: --allow-destructive",
                )
            )
    return found
