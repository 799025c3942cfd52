"""Online repair DDL: each repair operation as the statements that run it without stopping writes.

A repair operation (an Alembic operation from a difference's fix) becomes one or more `Step`s
for the dialect: the statement as it will run, the lock it takes, how long that lock is held,
and whether writes go on meanwhile (`online`). PostgreSQL builds indexes `CONCURRENTLY`, adds
constraints `NOT VALID` and validates them separately, and sets NOT NULL behind a validated
check; MariaDB/MySQL ask for `ALGORITHM=INSTANT` or `INPLACE, LOCK=NONE`, so the server refuses
rather than silently copying the table; SQLite has one writer, so every statement holds the
database's write lock, for the whole build when it builds an index or rebuilds a table.

A step that is not online blocks writes for a time that grows with the table: self-healing
never runs one on a large table, and `ops migrate` only with `--allow-blocking`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from alembic.operations import ops
from sqlalchemy import Dialect, MetaData, PrimaryKeyConstraint, String, Text, UniqueConstraint

from ops.schema.extra_ops import ExtraSQLOp
from ops.schema.render import _render_one, needs_rebuild, op_table

# Writes may be blocked for up to about 1 s: a table this large would hold a blocking lock longer.
LARGE_TABLE_ROWS = 10_000
BATCH_ROWS = 1_000  # rows a backfill updates per transaction

BRIEF = "brief"  # a catalog change: the lock is held for milliseconds
BUILD = "build"  # held while an index is built or rows are scanned or copied
REWRITE = "rewrite"  # held while the whole table is rewritten

# Rows per second for the "about N s" estimate, measured on a loaded 2-core machine
# (benchmarks/online_ddl.py): an index build or scan, and a table copy (MariaDB ALGORITHM=COPY).
ROWS_PER_SECOND = {BRIEF: 10**9, BUILD: 200_000, REWRITE: 10_000}

_VOLATILE = re.compile(r"random|uuid|clock_timestamp|nextval|timeofday", re.IGNORECASE)


@dataclass
class Step:
    """One statement of a repair: what runs, the lock it takes, and whether writes go on."""

    table: str
    sql: str
    lock: str
    held: str = BRIEF
    online: bool = True
    note: str = ""
    concurrent: bool = False  # PostgreSQL CONCURRENTLY: outside any transaction
    index: str | None = None  # built concurrently: an invalid leftover of that name is dropped
    undo: str | None = None  # run when the step fails, to leave nothing half-made behind
    plain: str | None = None  # MySQL: the statement without ALGORITHM/LOCK (blocking)
    instead: str | None = None  # MySQL: the next algorithm to ask for when the server refuses
    batched: bool = False  # an UPDATE repeated until it changes no row
    unchecked: bool = False  # MySQL: the online statement runs with foreign_key_checks = 0
    verify: str | None = None  # a query finding a row that breaks the new constraint (undo if any)
    constraint: str | None = None  # the constraint or unique index the step adds

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "table": self.table,
            "sql": self.sql,
            "lock": self.lock,
            "held": self.held,
            "online": self.online,
            "note": self.note,
        }


@dataclass
class Server:
    """What the planner needs to know about the database server."""

    dialect: Dialect
    version: tuple[int, ...] = ()
    is_mariadb: bool = False
    metadata: MetaData | None = field(default=None, repr=False)


def server_of(conn: Any, metadata: MetaData | None = None) -> Server:
    """The server behind an open connection."""
    dialect = conn.dialect
    version = tuple(getattr(dialect, "server_version_info", None) or ())
    return Server(dialect, version, bool(getattr(dialect, "is_mariadb", False)), metadata)


def plan_steps(server: Server, operations: list[ops.MigrateOperation]) -> list[Step]:
    """The online steps that apply `operations` on this server, in order."""
    planner = {"postgresql": _postgresql, "mysql": _mysql}.get(server.dialect.name, _sqlite)
    return [
        step
        for op in operations
        for step in (_extra(server, op) if isinstance(op, ExtraSQLOp) else planner(server, op))
    ]


_FILL_LOCK = {
    "postgresql": "ROW EXCLUSIVE on the object filled; reads every row of the table",
    "mysql": "shared row locks on every row read (writes to those rows wait)",
}


def _extra(server: Server, op: ExtraSQLOp) -> list[Step]:
    """A declared extra object (`ops.schema.extras`): its creation is a catalog change; the
    rebuild of its content reads the whole table in one statement, which blocks writes."""
    dialect = server.dialect.name
    if not op.fill:
        lock = _SQLITE_LOCK if dialect == "sqlite" else "brief metadata lock on the table"
        return [Step(op.table_name, str(op.sqltext), lock, note="creates a declared object")]
    note = "rebuilds a declared object's content from every row of the table, in one statement"
    lock = _FILL_LOCK.get(dialect, _SQLITE_LOCK)
    return [Step(op.table_name, str(op.sqltext), lock, BUILD, False, note)]


def _render(server: Server, op: ops.MigrateOperation) -> list[str]:
    text = _render_one(server.dialect, op, server.metadata)
    return [line.rstrip(";") for line in text.splitlines() if line.strip()]


def _q(server: Server, name: str) -> str:
    return str(server.dialect.identifier_preparer.quote(name))


# -- PostgreSQL --------------------------------------------------------------------------------

_NEW = "none on existing tables (a new table)"
_CIC = "SHARE UPDATE EXCLUSIVE (reads and writes go on)"
_AE = "ACCESS EXCLUSIVE"


def _postgresql(server: Server, op: ops.MigrateOperation) -> list[Step]:
    table = op_table(op)
    if isinstance(op, ops.CreateTableOp):
        return [Step(table, s, _NEW) for s in _render(server, op)]
    if isinstance(op, ops.CreateIndexOp):
        op.kw["postgresql_concurrently"] = True
        [sql] = _render(server, op)
        return [_pg_index(server, table, sql, str(op.index_name))]
    if isinstance(op, ops.CreateUniqueConstraintOp) and op.constraint_name:
        return _pg_unique(server, op)
    if isinstance(op, ops.CreateForeignKeyOp | ops.CreateCheckConstraintOp) and op.constraint_name:
        [sql] = _render(server, op)
        return _pg_not_valid(server, table, sql, str(op.constraint_name))
    if isinstance(op, ops.AddColumnOp):
        return [_pg_add_column(server, op, sql) for sql in _render(server, op)]
    if isinstance(op, ops.ExecuteSQLOp):
        return [_pg_backfill(server, table, sql) for sql in _render(server, op)]
    if isinstance(op, ops.AlterColumnOp):
        return _pg_alter(server, op)
    if isinstance(op, ops.DropIndexOp):
        sql = f"DROP INDEX CONCURRENTLY IF EXISTS {_q(server, str(op.index_name))}"
        return [Step(table, sql, _CIC, concurrent=True)]
    if isinstance(op, ops.DropConstraintOp | ops.DropColumnOp | ops.DropTableOp):
        return [Step(table, s, _AE, note="catalog change only") for s in _render(server, op)]
    note = "not known to run online"
    return [Step(table, s, _AE, BUILD, False, note) for s in _render(server, op)]


def _pg_index(server: Server, table: str, sql: str, name: str) -> Step:
    undo = f"DROP INDEX CONCURRENTLY IF EXISTS {_q(server, name)}"
    note = "built CONCURRENTLY outside a transaction; an invalid leftover is dropped first"
    return Step(table, sql, _CIC, BUILD, True, note, True, name, undo, constraint=name)


def _pg_unique(server: Server, op: ops.CreateUniqueConstraintOp) -> list[Step]:
    name, table = str(op.constraint_name), op.table_name
    columns = ", ".join(_q(server, str(c)) for c in op.columns)
    build = f"CREATE UNIQUE INDEX CONCURRENTLY {_q(server, name)} ON {_q(server, table)}"
    build += f" ({columns})"
    attach = (
        f"ALTER TABLE {_q(server, table)} ADD CONSTRAINT {_q(server, name)} "
        f"UNIQUE USING INDEX {_q(server, name)}"
    )
    return [
        _pg_index(server, table, build, name),
        Step(table, attach, _AE, note="the index becomes the constraint: catalog change only"),
    ]


def _pg_not_valid(server: Server, table: str, sql: str, name: str) -> list[Step]:
    drop = f"ALTER TABLE {_q(server, table)} DROP CONSTRAINT IF EXISTS {_q(server, name)}"
    validate = f"ALTER TABLE {_q(server, table)} VALIDATE CONSTRAINT {_q(server, name)}"
    lock = "SHARE ROW EXCLUSIVE (brief: existing rows are not checked)"
    return [
        Step(table, f"{sql} NOT VALID", lock, note="new rows are checked from now on"),
        Step(table, validate, _CIC, BUILD, True, "checks rows", undo=drop, constraint=name),
    ]


def _pg_add_column(server: Server, op: ops.AddColumnOp, sql: str) -> Step:
    default = op.column.server_default
    arg = getattr(default, "arg", None)
    text = "" if arg is None else str(getattr(arg, "text", arg))
    if default is not None and _VOLATILE.search(text):
        note = "a volatile default rewrites every row: add it nullable, backfill, then default"
        return Step(op.table_name, sql, _AE, REWRITE, False, note)
    if server.version and server.version < (11,) and default is not None:
        note = "PostgreSQL < 11 rewrites the table to store a default"
        return Step(op.table_name, sql, _AE, REWRITE, False, note)
    return Step(op.table_name, sql, _AE, note="catalog change only (no rewrite on PostgreSQL 11+)")


def _pg_backfill(server: Server, table: str, sql: str) -> Step:
    """An `UPDATE ... WHERE c IS NULL` run in batches of BATCH_ROWS rows, one commit each."""
    head, _, where = sql.partition(" WHERE ")
    if not where:
        return Step(table, sql, "ROW EXCLUSIVE; row locks on every row", BUILD, False)
    batch = (
        f"{head} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {_q(server, table)} "
        f"WHERE {where} LIMIT {BATCH_ROWS}))"
    )
    note = f"batches of {BATCH_ROWS} rows, each its own transaction"
    lock = "ROW EXCLUSIVE; row locks on one batch"
    return Step(table, batch, lock, BUILD, True, note, batched=True)


def _coercible(old: Any, new: Any) -> bool:
    """A change PostgreSQL makes without rewriting: a longer or unbounded VARCHAR, or TEXT."""
    if not isinstance(old, String) or not isinstance(new, String):
        return False
    if isinstance(new, Text) or new.length is None:
        return not isinstance(old, Text) or isinstance(new, Text)
    return old.length is not None and not isinstance(old, Text) and new.length >= old.length


def _pg_alter(server: Server, op: ops.AlterColumnOp) -> list[Step]:
    table, column = op.table_name, op.column_name
    steps = []
    for sql in _render(server, op):
        if sql.endswith("SET NOT NULL"):
            steps += _pg_set_not_null(server, table, column, sql)
        elif " TYPE " in sql and not _coercible(op.existing_type, op.modify_type):
            note = "rewrites the table: add a new column, backfill it in batches, then swap"
            steps.append(Step(table, sql, _AE, REWRITE, False, note))
        elif " TYPE " in sql and _recollated(op) and _indexed(server, table, column):
            note = "no rewrite, but the column's indexes are rebuilt under the lock"
            steps.append(Step(table, sql, _AE, BUILD, False, note))
        else:
            steps.append(Step(table, sql, _AE, note="catalog change only"))
    return steps


def _recollated(op: ops.AlterColumnOp) -> bool:
    """The type change sets another collation."""
    old, new = (getattr(t, "collation", None) for t in (op.existing_type, op.modify_type))
    return op.modify_type is not None and old != new


def _indexed(server: Server, table: str, column: str) -> bool:
    """The models index `column` (an index, a unique key or the primary key); unknown: True."""
    model = server.metadata.tables.get(table) if server.metadata is not None else None
    if model is None:
        return True
    keys = [i.columns.keys() for i in model.indexes]
    unique = (UniqueConstraint, PrimaryKeyConstraint)
    keys += [c.columns.keys() for c in model.constraints if isinstance(c, unique)]
    return any(column in key for key in keys)


def _pg_set_not_null(server: Server, table: str, column: str, sql: str) -> list[Step]:
    if server.version and server.version < (12,):
        return [Step(table, sql, _AE, BUILD, False, "scans every row under ACCESS EXCLUSIVE")]
    name = f"ck_{table}_{column}_not_null"[:63]
    tbl, col, check = _q(server, table), _q(server, column), _q(server, name)
    add = f"ALTER TABLE {tbl} ADD CONSTRAINT {check} CHECK ({col} IS NOT NULL)"
    note = "uses the validated check: no scan under ACCESS EXCLUSIVE"
    drop = Step(table, f"ALTER TABLE {tbl} DROP CONSTRAINT IF EXISTS {check}", _AE)
    return [drop, *_pg_not_valid(server, table, add, name), Step(table, sql, _AE, note=note), drop]


# -- MariaDB / MySQL ---------------------------------------------------------------------------

_NONE = "LOCK=NONE (exclusive metadata lock only at start and end)"
_COPY = "ALGORITHM=COPY, LOCK=SHARED (writes wait for the copy)"


def _instant(server: Server, table: str, sql: str, note: str) -> Step:
    supported = server.version >= ((10, 3) if server.is_mariadb else (8, 0, 12))
    inplace = f"{sql}, ALGORITHM=INPLACE, LOCK=NONE"
    if not supported:
        return Step(table, inplace, _NONE, BUILD, True, note, plain=sql)
    step = Step(table, f"{sql}, ALGORITHM=INSTANT", "ALGORITHM=INSTANT (metadata only)")
    step.note, step.plain, step.instead = note, sql, inplace
    return step


def _mysql(server: Server, op: ops.MigrateOperation) -> list[Step]:
    table = op_table(op)
    if isinstance(op, ops.CreateTableOp):
        return [Step(table, s, _NEW) for s in _render(server, op)]
    if isinstance(op, ops.ExecuteSQLOp) and str(op.sqltext).startswith("ALTER TABLE"):
        return [_instant(server, table, str(op.sqltext), "metadata only (the table's defaults)")]
    if isinstance(op, ops.ExecuteSQLOp):
        note = f"batches of {BATCH_ROWS} rows, each its own transaction"
        return [
            Step(
                table,
                f"{s} LIMIT {BATCH_ROWS}",
                "row locks on one batch",
                BUILD,
                True,
                note,
                batched=True,
            )
            for s in _render(server, op)
        ]
    if isinstance(op, ops.CreateForeignKeyOp) and op.constraint_name:
        return [_mysql_foreign_key(server, op, sql) for sql in _render(server, op)]
    if isinstance(op, ops.CreateForeignKeyOp | ops.CreateCheckConstraintOp):
        note = "MariaDB/MySQL copy the table to add a CHECK constraint (no in-place algorithm)"
        return [Step(table, s, _COPY, REWRITE, False, note) for s in _render(server, op)]
    return [_mysql_alter(server, op, table, sql) for sql in _render(server, op)]


def _mysql_foreign_key(server: Server, op: ops.CreateForeignKeyOp, sql: str) -> Step:
    """Added in place with foreign_key_checks = 0 (MySQL/MariaDB copy the table otherwise),
    then the existing rows are checked by a plain read: a row without its parent drops the key.

    Rows written while the key is added are covered: the key checks every write once it exists,
    and the read that follows it sees every row written before."""
    table, name = op.source_table, str(op.constraint_name)
    child, parent = _q(server, table), _q(server, op.referent_table)
    pairs = list(zip(op.local_cols, op.remote_cols, strict=True))
    present = " AND ".join(f"c.{_q(server, str(a))} IS NOT NULL" for a, _ in pairs)
    match = " AND ".join(f"p.{_q(server, str(b))} = c.{_q(server, str(a))}" for a, b in pairs)
    shown = ", ".join(f"c.{_q(server, str(a))}" for a, _ in pairs)
    verify = (
        f"SELECT {shown} FROM {child} c WHERE {present} "
        f"AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE {match}) LIMIT 1"
    )
    note = "added in place without the copy; existing rows then checked by a plain read"
    return Step(
        table,
        f"{sql}, ALGORITHM=INPLACE, LOCK=NONE",
        _NONE,
        note=note,
        undo=f"ALTER TABLE {child} DROP FOREIGN KEY {_q(server, name)}",
        plain=sql,
        unchecked=True,
        verify=verify,
        constraint=name,
    )


def _mysql_alter(server: Server, op: ops.MigrateOperation, table: str, sql: str) -> Step:
    if isinstance(op, ops.DropIndexOp):  # DROP INDEX … ON t takes no ALGORITHM / LOCK clause
        online = f"ALTER TABLE {_q(server, table)} DROP INDEX {_q(server, str(op.index_name))}"
        online += ", ALGORITHM=INPLACE, LOCK=NONE"
        note = "dropped in place while writes go on"
        return Step(table, online, _NONE, BUILD, True, note, plain=sql)
    if isinstance(op, ops.CreateIndexOp):
        note = "built in place while writes go on"
        online = f"{sql} ALGORITHM=INPLACE LOCK=NONE"
        index = str(op.index_name)
        return Step(table, online, _NONE, BUILD, True, note, plain=sql, constraint=index)
    if isinstance(op, ops.AddColumnOp) or " SET DEFAULT" in sql or " DROP DEFAULT" in sql:
        return _instant(server, table, sql, "metadata only")
    if isinstance(op, ops.AlterColumnOp) and op.modify_type is not None:
        if not _coercible(op.existing_type, op.modify_type):
            note = "a type change copies the table: add a new column, backfill, then swap"
            return Step(table, sql, _COPY, REWRITE, False, note)
    note = "rebuilt in place while writes go on"
    online = f"{sql}, ALGORITHM=INPLACE, LOCK=NONE"
    name = getattr(op, "constraint_name", None)
    return Step(table, online, _NONE, BUILD, True, note, plain=sql, constraint=name and str(name))


# -- SQLite ------------------------------------------------------------------------------------

_SQLITE_LOCK = "the database write lock (SQLite has one writer)"


def _sqlite(server: Server, op: ops.MigrateOperation) -> list[Step]:
    table = op_table(op)
    sql = "; ".join(_render(server, op)) if not needs_rebuild(server.dialect, op) else ""
    if needs_rebuild(server.dialect, op):
        sql = f"-- rebuild table {table} (copy every row) to apply {type(op).__name__}"
        note = "every writer waits while the table is copied"
        return [Step(table, sql, _SQLITE_LOCK, REWRITE, False, note)]
    if isinstance(op, ops.CreateIndexOp | ops.ExecuteSQLOp):
        note = "every writer waits while the index is built or the rows are updated"
        return [Step(table, sql, _SQLITE_LOCK, BUILD, False, note)]
    return [Step(table, sql, _SQLITE_LOCK, note="schema change only")]
