"""Comparers for one column present on both sides: type, nullability, server default."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, text

from ops.schema.compare.context import Context, Operations, alembic_ops
from ops.schema.difference import Difference, Repair, Severity
from ops.schema.normalize import (
    Shape,
    is_autoincrement_default,
    model_default,
    normalize_default,
    shape,
    unwrap,
)

_SIZED = {"string", "integer", "datetime", "numeric", "text"}
_NEAR = {frozenset({"integer", "numeric"}), frozenset({"float", "numeric"})}


def _rank(size: Any) -> float:
    return float("inf") if size is None else float(size)


def _narrower(ctx: Context) -> Severity:
    """A live type narrower than the model's refuses (or truncates) the models' values.

    SQLite enforces no length, so there nothing the service writes is refused.
    """
    return Severity.WARNING if ctx.dialect.name == "sqlite" else Severity.CRITICAL


def _enum_verdict(want: Shape, have: Shape) -> tuple[Severity, bool] | None:
    missing = set(want.extra or ()) - set(have.extra or ())
    if missing:
        return Severity.CRITICAL, True  # writing one of the missing values fails
    return (Severity.INFO, False) if want.extra != have.extra else None


def type_verdict(ctx: Context, want: Shape, have: Shape) -> tuple[Severity, bool] | None:
    """None when compatible, else (severity, live type is narrower than the model's)."""
    if want == have:
        return None
    families = {want.family, have.family}
    if want.family == "json" and have.family == "text" and ctx.dialect.name == "mysql":
        return None  # MariaDB stores JSON as LONGTEXT with a json_valid CHECK
    if families == {"boolean", "integer"} and ctx.dialect.name in {"mysql", "sqlite"}:
        return None
    if families == {"string", "text"}:
        return (_narrower(ctx), True) if want.family == "text" else (Severity.INFO, False)
    if want.family != have.family:
        near = families in _NEAR
        return (Severity.WARNING if near else Severity.CRITICAL), True
    if want.family == "enum":
        return _enum_verdict(want, have)
    if want.family == "float":  # fewer digits are kept, nothing is refused
        narrower = _rank(have.size) < _rank(want.size)
        return (Severity.WARNING, True) if narrower else (Severity.INFO, False)
    if want.family not in _SIZED:
        return None
    if want.family in {"string", "integer", "text"}:
        narrower = _rank(have.size) < _rank(want.size)
        return (_narrower(ctx), True) if narrower else (Severity.INFO, False)
    if want.family == "datetime" and want.size == have.size:
        narrower = (have.extra or 0) < (want.extra or 0)
        return (Severity.WARNING, True) if narrower else (Severity.INFO, False)
    return Severity.WARNING, True


def alter_column(
    table: str, column: Column[Any], live: dict[str, Any], **changes: Any
) -> Operations:
    """ALTER COLUMN with `changes`, naming what the column has now (MySQL restates it)."""
    existing = {
        "existing_type": changes.pop("existing_type", column.type),
        "existing_nullable": changes.pop("existing_nullable", live["nullable"]),
        "existing_server_default": changes.pop("existing_server_default", column.server_default),
    }
    return lambda: [alembic_ops().AlterColumnOp(table, column.name, **existing, **changes)]


def compare_type(
    ctx: Context, table: str, column: Column[Any], live: dict[str, Any]
) -> list[Difference]:
    """A different family is critical (the ORM cannot write it); narrower is a warning."""
    want, have = shape(column.type, ctx.dialect), shape(live["type"], ctx.dialect)
    verdict = type_verdict(ctx, want, have)
    if verdict is None:
        return []
    severity, narrower = verdict
    op = alter_column(table, column, live, modify_type=column.type, existing_type=live["type"])
    same = want.family == have.family or {want.family, have.family} == {"string", "text"}
    repair = Repair.SAFE if narrower and same else Repair.DESTRUCTIVE
    why = (
        "widening the column keeps every value"
        if repair is Repair.SAFE
        else ("changing the type may lose or reject data: needs --allow-destructive")
    )
    if want.family == "enum" and ctx.dialect.name == "postgresql":
        return [_pg_enum(ctx, table, column, want, have, severity)]
    return [ctx.diff(table, column.name, "type_mismatch", severity, want, have, op, repair, why)]


def _pg_enum(
    ctx: Context, table: str, column: Column[Any], want: Shape, have: Shape, severity: Severity
) -> Difference:
    """PostgreSQL enum values are added to the type, outside a transaction: a manual step."""
    name = getattr(unwrap(column.type, ctx.dialect), "name", None) or "<enum type>"
    added = [v for v in want.extra or () if v not in (have.extra or ())]
    statements = "; ".join(f"ALTER TYPE {name} ADD VALUE '{v}'" for v in added)
    why = f"run outside a transaction: {statements}" if added else "the type has extra values"
    return ctx.diff(
        table, column.name, "type_mismatch", severity, want, have, None, Repair.MANUAL, why
    )


def compare_nullable(
    ctx: Context, table: str, column: Column[Any], live: dict[str, Any]
) -> list[Difference]:
    """DB NOT NULL where the models allow NULL breaks writes; the reverse is a warning."""
    if bool(column.nullable) == bool(live["nullable"]):
        return []
    want = "NULL" if column.nullable else "NOT NULL"
    have = "NULL" if live["nullable"] else "NOT NULL"
    op = alter_column(table, column, live, modify_nullable=column.nullable)
    if column.nullable:
        no_default = live.get("default") is None
        severity = Severity.CRITICAL if no_default else Severity.WARNING
        why = "relaxing to NULL keeps every value"
        return [
            ctx.diff(table, column.name, "nullability_mismatch", severity, want, have, op, why=why)
        ]
    why = "setting NOT NULL fails on rows holding NULL: needs --allow-destructive"
    return [
        ctx.diff(
            table,
            column.name,
            "nullability_mismatch",
            Severity.WARNING,
            want,
            have,
            op,
            Repair.DESTRUCTIVE,
            why,
        )
    ]


def compare_default(
    ctx: Context, table: str, column: Column[Any], live: dict[str, Any]
) -> list[Difference]:
    """Server defaults compared after normalisation (quotes, casts, true vs 1)."""
    raw_want, raw_have = model_default(column, ctx.dialect), live.get("default")
    if raw_want == raw_have or (raw_want is None and is_autoincrement_default(raw_have)):
        return []  # the same text needs no normalising
    want, have = normalize_default(raw_want), normalize_default(raw_have)
    if want == have:
        return []
    server_default = text(raw_want) if raw_want is not None else None
    op = alter_column(
        table,
        column,
        live,
        modify_server_default=server_default,
        existing_server_default=raw_have and text(raw_have),
    )
    if raw_want is None:
        why = "the database has a default the models do not: drop it with --allow-destructive"
        return [
            ctx.diff(
                table,
                column.name,
                "default_mismatch",
                Severity.INFO,
                None,
                raw_have,
                op,
                Repair.DESTRUCTIVE,
                why,
            )
        ]
    return [
        ctx.diff(
            table,
            column.name,
            "default_mismatch",
            Severity.WARNING,
            raw_want,
            raw_have,
            op,
            why="setting the model's default changes no data",
        )
    ]


def compare_column_attributes(
    ctx: Context, table: str, column: Column[Any], live: dict[str, Any]
) -> list[Difference]:
    """Run every per-column comparer."""
    found: list[Difference] = []
    for comparer in (compare_type, compare_nullable, compare_default):
        found.extend(comparer(ctx, table, column, live))
    return found
