"""Objects a dialect needs besides the models' tables: extensions, side tables, virtual tables
and triggers, each with the DDL that creates it, so check-schema, init-db and migrate can
report and build them like the models' own tables.

The models declare them in `metadata.info["ops.schema.extras"]` as plain data (the models need
not import this library), by dialect name, each belonging to one of the models' tables:

    {"sqlite": [
        {"kind": "virtual_table", "name": "jobs_fts", "table": "jobs",
         "create": "CREATE VIRTUAL TABLE IF NOT EXISTS jobs_fts USING fts5(...)",
         "drop": "DROP TABLE IF EXISTS jobs_fts",
         "fill": ["DELETE FROM jobs_fts", "INSERT INTO jobs_fts(...) SELECT ... FROM jobs"]},
        {"kind": "trigger", "name": "jobs_fts_insert", "table": "jobs",
         "create": "CREATE TRIGGER IF NOT EXISTS jobs_fts_insert ...",
         "drop": "DROP TRIGGER IF EXISTS jobs_fts_insert"},
    ]}

- `create` must be idempotent (IF NOT EXISTS); `drop` may be empty (an extension others use).
- `fill` (optional) rebuilds the object's content from its table. It runs after any object of
  that table is (re)created: a trigger that was missing let writes go unrecorded, and a SQLite
  table rebuild (batch mode) drops the table's triggers and renumbers its rowids.
- An extension is created before its table (an index may need it), the rest after.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, MetaData

INFO_KEY = "ops.schema.extras"
# Creation order within a table, and each kind's difference name (check-schema's `kind`).
KINDS = {
    "extension": "missing_extension",
    "table": "missing_side_table",
    "virtual_table": "missing_virtual_table",
    "trigger": "missing_trigger",
}
LABELS = {"table": "side table", "virtual_table": "virtual table"}


class BadExtras(ValueError):
    """`metadata.info["ops.schema.extras"]` is not the shape this module documents."""


@dataclass(frozen=True)
class Extra:
    """One declared object: what it is, the models' table it belongs to, and its DDL."""

    kind: str
    name: str
    table: str
    create: str
    drop: str = ""
    fill: tuple[str, ...] = ()

    @property
    def before_table(self) -> bool:
        """Created before its table (an extension an index of the table needs)."""
        return self.kind == "extension"

    @property
    def label(self) -> str:
        """`trigger jobs_fts_insert`, for reports."""
        return f"{LABELS.get(self.kind, self.kind)} {self.name}"


def _parse(dialect: str, entry: Any) -> Extra:
    if not isinstance(entry, dict):
        raise BadExtras(f"{INFO_KEY}[{dialect!r}]: {entry!r} is not a mapping")
    missing = {"kind", "name", "table", "create"} - set(entry)
    unknown = set(entry) - {"kind", "name", "table", "create", "drop", "fill"}
    if missing or unknown or entry["kind"] not in KINDS:
        raise BadExtras(
            f"{INFO_KEY}[{dialect!r}] entry {entry.get('name')!r}: missing {sorted(missing)}, "
            f"unknown keys {sorted(unknown)}, kind must be one of {sorted(KINDS)}"
        )
    fill = entry.get("fill", ())
    return Extra(
        entry["kind"],
        entry["name"],
        entry["table"],
        entry["create"],
        entry.get("drop", ""),
        (fill,) if isinstance(fill, str) else tuple(fill),
    )


def declared(metadata: MetaData, dialect: str, table: str | None = None) -> list[Extra]:
    """The objects declared for this dialect (of one table, when given), in creation order."""
    entries = metadata.info.get(INFO_KEY, {}).get(dialect, [])
    extras = [_parse(dialect, entry) for entry in entries]
    order = list(KINDS)
    chosen = [e for e in extras if table is None or e.table == table]
    return sorted(chosen, key=lambda e: order.index(e.kind))


def declared_tables(metadata: MetaData, dialect: str) -> set[str]:
    """The side and virtual tables declared for this dialect (not the models' own)."""
    return {e.name for e in declared(metadata, dialect) if e.kind in ("table", "virtual_table")}


def fills(extras: Sequence[Extra]) -> list[str]:
    """Every fill statement of these objects, in order."""
    return [statement for extra in extras for statement in extra.fill]


def restore(conn: Connection, metadata: MetaData, table: str) -> None:
    """(Re)create the objects of `table` and rebuild their content: after SQLite rebuilt the
    table (its triggers went with the old one, its rowids changed)."""
    extras = declared(metadata, conn.dialect.name, table)
    for statement in [e.create for e in extras] + fills(extras):
        conn.exec_driver_sql(statement)
