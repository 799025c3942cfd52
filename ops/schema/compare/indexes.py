"""Comparers: indexes and unique constraints, matched by what they index (names vary by dialect).

An index is keyed by its elements — column names or normalised expressions, each with its
sort order — and its uniqueness. Keys are matched as a multiset, so two model indexes over
the same columns need two live ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import Column, Dialect, Index, Table, UniqueConstraint
from sqlalchemy.sql.elements import conv

from ops.schema.compare.context import Context, alembic_ops, real_name
from ops.schema.ddl import applies, create_index_sql
from ops.schema.difference import Difference, Repair, Severity
from ops.schema.live import LiveTable
from ops.schema.normalize import compile_expression, normalize_expression

UNKNOWN = "?"  # an element the dialect's reflection cannot show (e.g. an expression)


@dataclass
class Entry:
    """One index or unique constraint: its match key, a readable form and where it came from."""

    name: str | None
    key: tuple[str, ...]
    shown: tuple[str, ...]
    unique: bool
    source: Any  # the model object, or the reflected dictionary
    constraint: bool = False

    @property
    def opaque(self) -> bool:
        return UNKNOWN in self.key


def _model_elements(index: Index, dialect: Dialect) -> tuple[str, ...]:
    return tuple(
        str(e.name) if isinstance(e, Column) else compile_expression(e, dialect)
        for e in index.expressions
    )


def _key(shown: tuple[str, ...]) -> tuple[str, ...]:
    if not shown:  # an index declared without columns: known by its name alone
        return (UNKNOWN,)
    key = (normalize_expression(e) for e in shown)
    return tuple(k[:-3] if k.endswith("asc") and not k.endswith("desc") else k for k in key)


def model_entries(model: Table, dialect: Dialect) -> list[Entry]:
    """Every index and unique constraint the models declare on this table (for this dialect)."""
    entries = []
    for index in model.indexes:
        if not applies(index, dialect):
            continue
        shown = _model_elements(index, dialect)
        entries.append(Entry(real_name(index.name), _key(shown), shown, bool(index.unique), index))
    for constraint in model.constraints:
        if isinstance(constraint, UniqueConstraint):
            shown = tuple(str(c.name) for c in constraint.columns)
            entry = Entry(real_name(constraint.name), _key(shown), shown, True, constraint, True)
            entries.append(entry)
    return entries


def _live_elements(index: dict[str, Any]) -> tuple[str, ...]:
    expressions = index.get("expressions") or []
    sorting = index.get("column_sorting") or {}
    shown = []
    for pos, column in enumerate(index["column_names"]):
        element = column if column is not None else None
        if element is None and pos < len(expressions):
            element = expressions[pos]
        if element is None:
            shown.append(UNKNOWN)
            continue
        shown.append(" ".join([str(element), *sorting.get(element, ())]))
    return tuple(shown)


def live_entries(live: LiveTable) -> list[Entry]:
    """Every reflected index and unique constraint, a constraint's own index left out.

    An invalid PostgreSQL index (left by an interrupted `CREATE INDEX CONCURRENTLY`) is left
    out too: it enforces nothing and serves no query, so the model's index counts as missing.
    """
    entries = []
    names = {c.get("name") for c in live.uniques}
    for constraint in live.uniques:
        shown = tuple(constraint["column_names"])
        entries.append(
            Entry(constraint.get("name"), _key(shown), shown, True, constraint, constraint=True)
        )
    for index in live.indexes:
        if index.get("duplicates_constraint") or (index.get("unique") and index["name"] in names):
            continue
        if (index.get("dialect_options") or {}).get("postgresql_invalid"):
            continue  # an interrupted concurrent build: migrate drops it and builds it again
        shown = _live_elements(index)
        key = _key(shown)
        entries.append(Entry(index.get("name"), key, shown, bool(index.get("unique")), index))
    return entries


def _fk_backing(ctx: Context, live: LiveTable, entry: Entry) -> bool:
    """MySQL/MariaDB add an index for every foreign key: it is not drift."""
    if ctx.dialect.name != "mysql" or entry.unique:
        return False
    return any(
        fk["name"] == entry.name or tuple(fk["constrained_columns"]) == entry.key
        for fk in live.foreign_keys
    )


def pair(wanted: list[Entry], have: list[Entry]) -> tuple[list[Entry], list[Entry]]:
    """Match by key (then, where either side is opaque, by name); return the unmatched of
    each side."""
    missing, left = [], list(have)
    for entry in wanted:
        match = next(
            (h for h in left if (h.key, h.unique) == (entry.key, entry.unique) and not h.opaque),
            None,
        )
        if match is None:
            match = next(
                (
                    h
                    for h in left
                    if (h.opaque or entry.opaque)
                    and (h.name, h.unique) == (entry.name, entry.unique)
                ),
                None,
            )
        if match is None:
            missing.append(entry)
        else:
            left.remove(match)
    return missing, left


def _kind(entry: Entry) -> str:
    return "unique_constraint" if entry.unique else "index"


def _describe(entry: Entry) -> str:
    return f"{entry.name} ({', '.join(entry.shown)})"


def _missing(ctx: Context, table: str, entry: Entry, stale: Entry | None = None) -> Difference:
    """`stale`: a live index of the same name over other columns (MariaDB keeps an index when a
    column of it is dropped, minus that column): dropped first, or the build fails on its name."""
    source = entry.source
    if not entry.shown:  # `create_all` itself fails on it: CREATE INDEX name ON table ()
        return ctx.diff(
            table,
            "",
            "missing_index",
            Severity.WARNING,
            _describe(entry),
            None,
            repair=Repair.MANUAL,
            why="the models declare it without columns, so it cannot be created: name its columns",
        )

    def create() -> list[Any]:
        ops = alembic_ops()
        if isinstance(source, Index):
            drop = [ops.DropIndexOp(conv(str(entry.name)), table_name=table)] if stale else []
            return [*drop, ops.CreateIndexOp.from_index(source)]
        return [ops.CreateUniqueConstraintOp.from_constraint(source)]

    return ctx.diff(
        table,
        ",".join(entry.shown),
        f"missing_{_kind(entry)}",
        Severity.WARNING,
        _describe(entry),
        None,
        create,
        why="creating it fails if existing rows are duplicates" if entry.unique else "",
        ddl=partial(create_index_sql, ctx.dialect, source) if isinstance(source, Index) else None,
    )


def _unexpected(ctx: Context, table: str, entry: Entry) -> Difference:
    name = entry.name

    def drop() -> list[Any]:
        ops = alembic_ops()
        live = conv(name) if name else name  # as named in the database, no convention applied
        if entry.constraint:
            return [ops.DropConstraintOp(live, table, type_="unique")]
        return [ops.DropIndexOp(live, table_name=table)]

    return ctx.diff(
        table,
        ",".join(entry.shown),
        f"unexpected_{_kind(entry)}",
        Severity.WARNING if entry.unique else Severity.INFO,
        None,
        _describe(entry),
        drop if name else None,
        Repair.DESTRUCTIVE if name else Repair.MANUAL,
        "not in the models: drop it with --allow-destructive"
        if name
        else "unnamed: drop it by hand (SQLite rebuild)",
    )


def compare_indexes(ctx: Context, model: Table, live: LiveTable) -> list[Difference]:
    """Missing indexes/uniques are warnings; unexpected ones info (index) or warning (unique)."""
    missing, unexpected = pair(model_entries(model, ctx.dialect), live_entries(live))
    found = []
    for entry in missing:
        stale = next(
            (u for u in unexpected if u.name == entry.name and not u.unique and not entry.unique),
            None,
        )
        if stale is not None and isinstance(entry.source, Index):
            unexpected.remove(stale)
        else:
            stale = None
        found.append(_missing(ctx, model.name, entry, stale))
    found += [_unexpected(ctx, model.name, e) for e in unexpected if not _fk_backing(ctx, live, e)]
    return found
