"""Run a list of differences' Alembic operations on a live connection, in a safe order."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations, ops
from sqlalchemy import Connection, MetaData

from ops.schema.difference import Difference
from ops.schema.extras import restore
from ops.schema.render import needs_rebuild, op_table

log = logging.getLogger("ops.schema")

_ORDER = [
    "missing_extension",  # before the tables and indexes that need it
    "missing_table",
    # before columns are added (they take the table's default) and keys built on them
    "charset_mismatch",
    "collation_mismatch",
    "missing_column",
    "probable_rename",
    "unexpected_column",
    "type_mismatch",
    "nullability_mismatch",
    "default_mismatch",
    "missing_index",
    "missing_unique_constraint",
    "foreign_key_mismatch",
    "missing_foreign_key",
    "unvalidated_foreign_key",
    "missing_check_constraint",
    "check_constraint_mismatch",
    "missing_side_table",
    "missing_virtual_table",
    "missing_trigger",  # after the tables they write to
]


def order_key(diff: Difference, metadata: MetaData) -> tuple[int, int, str]:
    """Tables before columns before constraints; parent tables before children."""
    tables = [t.name for t in metadata.sorted_tables]
    kind = _ORDER.index(diff.kind) if diff.kind in _ORDER else len(_ORDER)
    table = tables.index(diff.table) if diff.table in tables else len(tables)
    return kind, table, diff.column or ""


def has_rows(conn: Connection, table: str) -> bool:
    """True when the table holds at least one row."""
    query = sa.select(sa.literal(1)).select_from(sa.table(table)).limit(1)
    return conn.execute(query).first() is not None


@dataclass
class Applier:
    """Invokes operations on one connection, batching SQLite rebuilds; remembers what it did."""

    conn: Connection
    metadata: MetaData
    done: list[ops.MigrateOperation] = field(default_factory=list)
    label: str = "upgrade"

    def __post_init__(self) -> None:
        context = MigrationContext.configure(
            connection=self.conn, opts={"target_metadata": self.metadata}
        )
        self.operations = Operations(context)

    def run(self, operations: list[ops.MigrateOperation]) -> None:
        """Apply operations in order; consecutive SQLite rebuilds of one table share a batch."""
        pending: list[ops.MigrateOperation] = []
        for op in operations:
            if needs_rebuild(self.conn.dialect, op):
                if pending and op_table(pending[0]) != op_table(op):
                    self._batch(pending)
                    pending = []
                pending.append(op)
                continue
            if pending:
                self._batch(pending)
                pending = []
            self.operations.invoke(op)
            self.done.append(op)
        if pending:
            self._batch(pending)

    def _batch(self, operations: list[ops.MigrateOperation]) -> None:
        table = op_table(operations[0])
        with self.operations.batch_alter_table(table, recreate="always") as batch:
            for op in operations:
                batch.invoke(op)
        restore(self.conn, self.metadata, table)  # the old table's triggers went with it
        self.done.extend(operations)
