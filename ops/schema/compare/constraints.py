"""Comparers: foreign keys and the primary key."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKeyConstraint, Table
from sqlalchemy.sql.elements import conv

from ops.schema.compare.context import Context, alembic_ops, describe_columns
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


def _unvalidated(
    ctx: Context, table: str, key: FkKey, want: str, name: str, create: Any
) -> Difference:
    """A PostgreSQL key left NOT VALID (an interrupted online repair): rows are not checked."""

    def again() -> list[Any]:
        return [alembic_ops().DropConstraintOp(conv(name), table, type_="foreignkey"), *create()]

    return ctx.diff(
        table,
        ",".join(key[0]),
        "unvalidated_foreign_key",
        Severity.WARNING,
        want,
        f"{want} NOT VALID",
        again,
        why="left NOT VALID by an interrupted repair: existing rows were never checked",
    )


def compare_foreign_keys(ctx: Context, model: Table, live: LiveTable) -> list[Difference]:
    """Foreign keys matched by columns and target; ON DELETE compared too."""
    table, found = model.name, []
    wanted = _model_fks(model)
    have = {
        (tuple(fk["constrained_columns"]), fk["referred_table"], tuple(fk["referred_columns"])): fk
        for fk in live.foreign_keys
    }
    for key, fk in wanted.items():

        def create(fk: ForeignKeyConstraint = fk) -> list[Any]:
            return [alembic_ops().CreateForeignKeyOp.from_constraint(fk)]

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
                    create,
                    why="fails if rows point nowhere",
                )
            )
            continue
        live_fk = have[key]
        if live_fk.get("not_valid") and live_fk.get("name"):
            found.append(_unvalidated(ctx, table, key, want, live_fk["name"], create))
            continue
        ondelete = _action(live_fk.get("options", {}).get("ondelete"))
        if ondelete != _action(fk.ondelete) and live_fk.get("name"):
            name = live_fk["name"]

            def replace(name: str = name, create: Any = create) -> list[Any]:
                drop = alembic_ops().DropConstraintOp(conv(name), table, type_="foreignkey")
                return [drop, *create()]

            found.append(
                ctx.diff(
                    table,
                    ",".join(key[0]),
                    "foreign_key_mismatch",
                    Severity.WARNING,
                    want,
                    _describe(key, ondelete),
                    replace,
                    Repair.DESTRUCTIVE,
                    "recreating the key changes what deletes do: --allow-destructive",
                )
            )
    for key, live_fk in have.items():
        if key not in wanted:
            name = live_fk.get("name")

            def drops(name: Any = name) -> list[Any]:
                return [alembic_ops().DropConstraintOp(conv(name), table, type_="foreignkey")]

            found.append(
                ctx.diff(
                    table,
                    ",".join(key[0]),
                    "unexpected_foreign_key",
                    Severity.WARNING,
                    None,
                    _describe(key, _action(live_fk.get("options", {}).get("ondelete"))),
                    drops if name else None,
                    Repair.DESTRUCTIVE if name else Repair.MANUAL,
                    "may reject the models' writes: drop it with --allow-destructive",
                )
            )
    return found


def _pk_severity(want: tuple[str, ...], have: tuple[str, ...]) -> Severity:
    """Grade by what the live key refuses that the models write.

    Fewer or other columns refuse rows the models consider distinct (critical); more
    columns, or none, only let duplicates in (warning); another order refuses nothing (info).
    """
    if set(want) == set(have):
        return Severity.INFO
    if not have or set(want) < set(have):
        return Severity.WARNING
    return Severity.CRITICAL


def compare_primary_key(ctx: Context, model: Table, live: LiveTable) -> list[Difference]:
    """A primary key over other columns is critical and never changed automatically."""
    want = tuple(c.name for c in model.primary_key.columns)
    have = tuple(live.primary_key.get("constrained_columns") or ())
    if want == have:
        return []
    severity = _pk_severity(want, have)
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
