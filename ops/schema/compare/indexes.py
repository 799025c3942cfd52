"""Comparers: indexes and unique constraints, matched by their columns (names vary by dialect)."""

from __future__ import annotations

from typing import Any

from alembic.operations import ops
from sqlalchemy import Column, Index, Table, UniqueConstraint

from ops.schema.compare.context import Context, describe_columns
from ops.schema.difference import Difference, Repair, Severity
from ops.schema.live import LiveTable

Cols = tuple[str, ...]


def _index_cols(index: Index) -> Cols:
    columns = [e for e in index.expressions if isinstance(e, Column)]
    if len(columns) != len(index.expressions):
        return (f"expression:{index.name}",)  # expression indexes are matched by name
    return tuple(str(c.name) for c in columns)


def _model_keys(model: Table) -> tuple[dict[Cols, Index], dict[Cols, Any]]:
    plain: dict[Cols, Index] = {}
    unique: dict[Cols, Any] = {}
    for index in model.indexes:
        (unique if index.unique else plain)[_index_cols(index)] = index
    for constraint in model.constraints:
        if isinstance(constraint, UniqueConstraint):
            unique[tuple(c.name for c in constraint.columns)] = constraint
    return plain, unique


def _live_keys(live: LiveTable) -> tuple[dict[Cols, dict[str, Any]], dict[Cols, dict[str, Any]]]:
    plain: dict[Cols, dict[str, Any]] = {}
    unique: dict[Cols, dict[str, Any]] = {}
    for constraint in live.uniques:
        unique[tuple(constraint["column_names"])] = dict(constraint, kind="constraint")
    for index in live.indexes:
        cols = tuple(str(c) for c in index["column_names"])
        if None in index["column_names"]:
            cols = (f"expression:{index['name']}",)
        if index.get("unique"):
            unique.setdefault(cols, dict(index, kind="index"))
        else:
            plain[cols] = index
    return plain, unique


def _fk_backing(ctx: Context, live: LiveTable, cols: Cols, name: str | None) -> bool:
    """MySQL/MariaDB add an index for every foreign key: it is not drift."""
    if ctx.dialect.name != "mysql":
        return False
    return any(
        fk["name"] == name or tuple(fk["constrained_columns"]) == cols for fk in live.foreign_keys
    )


def _create(obj: Any) -> ops.MigrateOperation:
    if isinstance(obj, Index):
        return ops.CreateIndexOp.from_index(obj)
    return ops.CreateUniqueConstraintOp.from_constraint(obj)


def _drop(table: str, item: dict[str, Any], unique: bool) -> list[ops.MigrateOperation]:
    if not item.get("name"):
        return []
    if unique and item.get("kind") == "constraint":
        return [ops.DropConstraintOp(item["name"], table, type_="unique")]
    return [ops.DropIndexOp(item["name"], table_name=table)]


def compare_indexes(ctx: Context, model: Table, live: LiveTable) -> list[Difference]:
    """Missing indexes/uniques are warnings; unexpected ones info (index) or warning (unique)."""
    table, found = model.name, []
    want_plain, want_unique = _model_keys(model)
    have_plain, have_unique = _live_keys(live)
    for wants, haves, kind in (
        (want_plain, have_plain, "index"),
        (want_unique, have_unique, "unique_constraint"),
    ):
        for cols, obj in wants.items():
            if cols not in haves:
                found.append(
                    ctx.diff(
                        table,
                        ",".join(cols),
                        f"missing_{kind}",
                        Severity.WARNING,
                        f"{obj.name} {describe_columns(cols)}",
                        None,
                        [_create(obj)],
                        why="creating it fails if existing rows are duplicates"
                        if kind != "index"
                        else "",
                    )
                )
        for cols, item in haves.items():
            if cols in wants or (
                kind == "index" and _fk_backing(ctx, live, cols, item.get("name"))
            ):
                continue
            drop = _drop(table, item, kind != "index")
            found.append(
                ctx.diff(
                    table,
                    ",".join(cols),
                    f"unexpected_{kind}",
                    Severity.INFO if kind == "index" else Severity.WARNING,
                    None,
                    f"{item.get('name')} {describe_columns(cols)}",
                    drop,
                    Repair.DESTRUCTIVE if drop else Repair.MANUAL,
                    "not in the models: drop it with --allow-destructive"
                    if drop
                    else "unnamed: drop it by hand (SQLite rebuild)",
                )
            )
    return found
