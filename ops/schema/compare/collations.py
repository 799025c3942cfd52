"""Comparer: column collations and character sets, and a MariaDB/MySQL table's defaults.

Compared only where the models name one: a column type's `collation` (or, on MariaDB/MySQL,
`charset`), or the table's `mysql_collate` / `mysql_charset`, which every text column without
its own then expects. A unique key's case-sensitivity, and which characters can be stored at
all, depend on them; neither Alembic nor migra reports them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, PrimaryKeyConstraint, String, Table, TypeDecorator, UniqueConstraint

from ops.schema.compare.attributes import alter_column
from ops.schema.compare.context import Context, Operations, alembic_ops
from ops.schema.difference import Difference, Repair, Severity
from ops.schema.live import LiveTable
from ops.schema.normalize import unwrap

# A collation that tells more values apart than the usual case-insensitive one: switching a
# unique column to it cannot make existing rows collide.
_STRICT_SUFFIXES = ("_bin", "_cs", "_as_cs")
_STRICT_NAMES = {"c", "posix", "binary", "ucs_basic"}
_UNICODE = {"utf8mb4", "utf16", "utf16le", "utf32"}


@dataclass(frozen=True)
class Expected:
    """What the models ask of one text column: a collation, or only a character set."""

    collation: str | None = None
    charset: str | None = None


def _fold(ctx: Context, name: str | None) -> str | None:
    """Comparable spelling: quotes off; MariaDB/MySQL and SQLite names ignore case, and
    `utf8` is `utf8mb3`."""
    if name is None:
        return "binary" if ctx.dialect.name == "sqlite" else None  # SQLite's default
    name = name.strip('"')
    if ctx.dialect.name == "postgresql":
        return name
    name = name.lower()
    if ctx.dialect.name == "mysql" and (name == "utf8" or name.startswith("utf8_")):
        name = "utf8mb3" + name[4:]
    return name


def table_defaults(ctx: Context, table: Table) -> Expected:
    """The table's `mysql_collate` / `mysql_charset` (or `mariadb_…`), MariaDB/MySQL only."""
    if ctx.dialect.name != "mysql":
        return Expected()
    kwargs = table.kwargs
    prefixes = ("mariadb", "mysql") if ctx.is_mariadb else ("mysql",)

    def option(*names: str) -> str | None:
        found = (kwargs.get(f"{p}_{n}") for p in prefixes for n in names)
        return next((str(v) for v in found if v), None)

    return Expected(
        option("collate"), option("charset", "default_charset", "character_set", "default charset")
    )


def expected(ctx: Context, column: Column[Any], defaults: Expected) -> Expected:
    """The column's own collation / charset, else the table's defaults (text columns only)."""
    declared = column.type
    if not isinstance(declared, String | TypeDecorator) and not declared._variant_mapping:
        return Expected()  # no text type, however it compiles: skip unwrapping
    type_ = unwrap(declared, ctx.dialect)
    if not isinstance(type_, String):
        return Expected()
    collation, charset = getattr(type_, "collation", None), getattr(type_, "charset", None)
    if collation or charset:
        return Expected(collation, charset)
    return defaults


def _in_unique_key(table: Table, name: str) -> bool:
    """The column is part of the primary key, a unique constraint or a unique index."""
    unique = (UniqueConstraint, PrimaryKeyConstraint)
    keys = [c.columns.keys() for c in table.constraints if isinstance(c, unique)]
    keys += [i.columns.keys() for i in table.indexes if i.unique]
    return any(name in key for key in keys)


def _strict(ctx: Context, collation: str) -> bool:
    folded = (_fold(ctx, collation) or "").lower()
    return folded in _STRICT_NAMES or folded.endswith(_STRICT_SUFFIXES)


def _retyped(ctx: Context, column: Column[Any], want: Expected) -> Any:
    """The model's type for this dialect, carrying the expected collation / charset."""
    type_: Any = copy.copy(unwrap(column.type, ctx.dialect))
    if want.collation:
        type_.collation = want.collation
    if want.charset:
        type_.charset = want.charset  # only MySQL's types declare it; their compiler reads it
    return type_


def _fix(
    ctx: Context, table: str, column: Column[Any], live: dict[str, Any], want: Expected
) -> Operations:
    """ALTER COLUMN to the model's type with the expected collation / charset."""
    retyped = _retyped(ctx, column, want)
    return alter_column(table, column, live, modify_type=retyped, existing_type=live["type"])


def _column_collation(
    ctx: Context, model: Table, column: Column[Any], live: LiveTable, want: Expected
) -> list[Difference]:
    have = live.collations.get(column.name)
    if _fold(ctx, want.collation) == _fold(ctx, have):
        return []
    unique = _in_unique_key(model, column.name)
    severity = Severity.CRITICAL if unique else Severity.WARNING
    assert want.collation is not None
    if unique and not _strict(ctx, want.collation):
        repair = Repair.DESTRUCTIVE
        why = (
            "a unique key under a looser collation refuses values that differ only in case or "
            "accents: the change fails on rows that would collide; needs --allow-destructive"
        )
    else:
        repair = Repair.SAFE
        why = (
            "the unique key compares values differently from what the models expect"
            if unique
            else "sorting and comparisons differ from what the models expect"
        )
    reflected = live.column(column.name) or {}
    return [
        ctx.diff(
            model.name,
            column.name,
            "collation_mismatch",
            severity,
            want.collation,
            have or "(database default)",
            _fix(ctx, model.name, column, reflected, want),
            repair,
            why,
        )
    ]


def _column_charset(
    ctx: Context, model: Table, column: Column[Any], live: LiveTable, want: Expected
) -> list[Difference]:
    """MariaDB/MySQL: the column's character set, named or implied by the expected collation."""
    have, charset = live.charsets.get(column.name), want.charset
    if charset is None and want.collation and ctx.dialect.name == "mysql":
        charset = want.collation.split("_")[0]  # a collation's name starts with its set
    if have is None or charset is None or _fold(ctx, charset) == _fold(ctx, have):
        return []
    widening = _fold(ctx, charset) in _UNICODE
    severity = Severity.CRITICAL if widening else Severity.WARNING
    repair = Repair.SAFE if widening else Repair.DESTRUCTIVE
    why = (
        "characters the models write cannot be stored: converting to a Unicode set keeps "
        "every value"
        if widening
        else "converting may lose characters the new set lacks: needs --allow-destructive"
    )
    reflected = live.column(column.name) or {}
    op = _fix(ctx, model.name, column, reflected, want)
    return [
        ctx.diff(
            model.name, column.name, "charset_mismatch", severity, charset, have, op, repair, why
        )
    ]


def _table_defaults(
    ctx: Context, model: Table, live: LiveTable, want: Expected
) -> list[Difference]:
    """The table's default collation / charset: what a column added later gets."""
    if want.collation and _fold(ctx, want.collation) != _fold(ctx, live.table_collation):
        kind, expected_, actual = "collation_mismatch", want.collation, live.table_collation
    elif (
        not want.collation
        and want.charset
        and _fold(ctx, want.charset) != _fold(ctx, live.table_charset)
    ):
        kind, expected_, actual = "charset_mismatch", want.charset, live.table_charset
    else:
        return []
    clauses = [f"CHARACTER SET {want.charset}"] if want.charset else []
    clauses += [f"COLLATE {want.collation}"] if want.collation else []
    sql = f"ALTER TABLE {ctx.dialect.identifier_preparer.quote(model.name)} DEFAULT " + " ".join(
        clauses
    )

    def operations() -> list[Any]:
        op = alembic_ops().ExecuteSQLOp(sql)
        setattr(op, "table_name", model.name)  # noqa: B010 - where the online planner looks
        return [op]

    plan: Operations = operations
    return [
        ctx.diff(
            model.name,
            None,
            kind,
            Severity.WARNING,
            expected_,
            actual,
            plan,
            why="the table's default: columns added later get it (existing columns are "
            "compared one by one)",
        )
    ]


def compare_collations(ctx: Context, model: Table, live: LiveTable) -> list[Difference]:
    """Collation / charset differences of the table's defaults and of each text column."""
    defaults = table_defaults(ctx, model)
    found = _table_defaults(ctx, model, live, defaults) if defaults != Expected() else []
    for column in model.columns:
        if live.column(column.name) is None:
            continue  # missing: the columns comparer reports it
        want = expected(ctx, column, defaults)
        charset = _column_charset(ctx, model, column, live, want)
        found += charset or (
            _column_collation(ctx, model, column, live, want) if want.collation else []
        )
    return found
