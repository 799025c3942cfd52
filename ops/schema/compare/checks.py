"""Comparer: CHECK constraints, matched by name or else by what they enforce.

Databases name unnamed checks themselves (`<table>_<col>_check`, `CONSTRAINT_1`) and
rewrite their text (casts, quotes, `= ANY (ARRAY[...])`), so a model check with no name
is matched by its normalised expression. Checks a type generates (`Boolean`/`Enum` with
`create_constraint=True`) are expected only where the dialect has no native type.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial
from types import SimpleNamespace
from typing import Any

from sqlalchemy import CheckConstraint, Enum, Table
from sqlalchemy.sql.elements import conv

from ops.schema.compare.context import Context, alembic_ops, real_name
from ops.schema.difference import Difference, Repair, Severity
from ops.schema.live import LiveTable
from ops.schema.normalize import compile_expression, normalize_expression, unwrap

_IN_LIST = re.compile(r"^(\w+)(not)?in(.*)$")


@dataclass
class ModelCheck:
    """A CHECK the database should enforce: its real name (or None), its text as this dialect
    renders it (bound values inlined, as `create_all` emits them), and that text normalised."""

    constraint: CheckConstraint
    name: str | None
    text: str
    key: str


def emitted(ctx: Context, constraint: CheckConstraint) -> bool:
    """False for a type-generated CHECK that this dialect's native type makes unnecessary."""
    rule = getattr(constraint, "_create_rule", None)
    return rule is None or bool(rule(SimpleNamespace(dialect=ctx.dialect)))


def model_checks(ctx: Context, model: Table) -> list[ModelCheck]:
    """The CHECKs `create_all` would emit for this table on this dialect."""
    texts = [
        (c, compile_expression(c.sqltext, ctx.dialect))
        for c in model.constraints
        if isinstance(c, CheckConstraint) and emitted(ctx, c)
    ]
    return [ModelCheck(c, real_name(c.name), text, normalize_expression(text)) for c, text in texts]


def _is_json_check(ctx: Context, check: dict[str, Any], live: LiveTable) -> bool:
    """MariaDB adds CHECK (json_valid(col)) named after every JSON column."""
    sqltext = str(check.get("sqltext", "")).lower()
    return (
        ctx.dialect.name == "mysql"
        and "json_valid" in sqltext
        and live.column(str(check.get("name"))) is not None
    )


def _pop_match(check: ModelCheck, live: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Remove and return the live check that is this one (by name, else by expression)."""
    for found in (
        [c for c in live if check.name and c.get("name") == check.name],
        [c for c in live if normalize_expression(str(c.get("sqltext", ""))) == check.key],
    ):
        if found:
            live.remove(found[0])
            return found[0]
    return None


def _same_content(check: ModelCheck, live: dict[str, Any]) -> bool:
    """The live check enforces what the model's does (compared as normalised text)."""
    return normalize_expression(str(live.get("sqltext", ""))) == check.key


def _recreate(name: str, table: str, constraint: CheckConstraint) -> list[Any]:
    # conv: the live name as it is, not passed through the models' naming convention again
    drop = alembic_ops().DropConstraintOp(conv(name), table, type_="check")
    return [drop, *_create(constraint)]


def _mismatch(ctx: Context, model: Table, check: ModelCheck, live: dict[str, Any]) -> Difference:
    """Same name, other rule: rows the model forbids may be stored, or writes it allows refused."""
    name = str(live.get("name"))
    return ctx.diff(
        model.name,
        None,
        "check_constraint_mismatch",
        Severity.WARNING,
        f"{name}: {check.text}",
        f"{name}: {live.get('sqltext')}",
        partial(_recreate, name, model.name, check.constraint),
        Repair.DESTRUCTIVE,
        "another rule under the same name: re-created with --allow-destructive "
        "(fails if existing rows break the model's rule)",
    )


def _refused_values(ctx: Context, model: Table, sqltext: str) -> list[str]:
    """The model's enum values a live `col IN (...)` check refuses; [] when not that shape."""
    match = _IN_LIST.match(normalize_expression(sqltext))
    if not match or match.group(1) not in model.columns:
        return []
    type_ = unwrap(model.columns[match.group(1)].type, ctx.dialect)
    if not isinstance(type_, Enum):
        return []
    allowed = {v.strip("'") for v in match.group(3).split(",")}
    if match.group(2):
        return [v for v in type_.enums if v in allowed]
    return [v for v in type_.enums if v not in allowed]


def _unexpected(ctx: Context, model: Table, check: dict[str, Any]) -> Difference:
    name, sqltext = check.get("name"), str(check.get("sqltext"))
    refused = _refused_values(ctx, model, sqltext)
    severity, why = Severity.WARNING, "may reject writes: --allow-destructive"
    if refused:
        severity = Severity.CRITICAL
        why = f"refuses {', '.join(refused)}, which the models write: drop it (--allow-destructive)"

    def drop() -> list[Any]:
        return [alembic_ops().DropConstraintOp(conv(str(name)), model.name, type_="check")]

    return ctx.diff(
        model.name,
        None,
        "unexpected_check_constraint",
        severity,
        None,
        f"{name}: {sqltext}" if name else sqltext,
        drop if name else None,
        Repair.DESTRUCTIVE if name else Repair.MANUAL,
        why,
    )


def _create(constraint: CheckConstraint) -> list[Any]:
    return [alembic_ops().CreateCheckConstraintOp.from_constraint(constraint)]


def compare_checks(ctx: Context, model: Table, live: LiveTable) -> list[Difference]:
    """Missing checks are warnings; a live check refusing a model's enum value is critical."""
    remaining = [c for c in live.checks if not _is_json_check(ctx, c, live)]
    found: list[Difference] = []
    for check in model_checks(ctx, model):
        matched = _pop_match(check, remaining)
        if matched is not None and not _same_content(check, matched):
            found.append(_mismatch(ctx, model, check, matched))
        if matched is not None:
            continue
        found.append(
            ctx.diff(
                model.name,
                None,
                "missing_check_constraint",
                Severity.WARNING,
                f"{check.name or '(unnamed)'}: {check.text}",
                None,
                partial(_create, check.constraint),
                why="fails if existing rows violate it",
            )
        )
    found.extend(_unexpected(ctx, model, c) for c in remaining)
    return found
