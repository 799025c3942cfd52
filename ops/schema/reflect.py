"""Reflect the live schema in one pass with SQLAlchemy 2's multi-table inspector methods."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Connection, inspect, text

from ops.schema.live import VERSION_TABLE, Key, LiveSchema, LiveTable
from ops.schema.reflect_collation import reflect_collations
from ops.schema.reflect_mysql import reflect_mariadb
from ops.schema.reflect_sqlite import reflect_sqlite

# SQLAlchemy's MySQL reflection drops the sort order of DESC index columns (MariaDB >= 10.8).
_MYSQL_DESC = text(
    "SELECT TABLE_NAME, INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS "
    "WHERE TABLE_SCHEMA = COALESCE(:schema, DATABASE()) AND COLLATION = 'D'"
)


def _multi(getter: Any, names: list[str]) -> dict[Key, Any]:
    try:
        result: dict[Key, Any] = getter(filter_names=names)
    except NotImplementedError:
        return {}
    return result


# A catalogue read while another process alters the schema: a table or constraint dropped
# between two of the inspector's queries (SQLAlchemy's PostgreSQL reflection then meets a NULL
# `pg_get_constraintdef` and raises TypeError). Reading again sees the settled catalogue.
_CATALOGUE_CHANGED = (TypeError, KeyError)
REFLECT_ATTEMPTS = 5  # a few reads in a hundred meet a change under a tight add/drop loop


def reflect_schema(conn: Connection, schema: str | None = None, fast: bool = True) -> LiveSchema:
    """Reflect every table of `schema`, again when the catalogue changed during the read."""
    for attempt in range(1, REFLECT_ATTEMPTS + 1):
        try:
            return _reflect_once(conn, schema, fast)
        except _CATALOGUE_CHANGED:
            if attempt == REFLECT_ATTEMPTS:
                raise
            time.sleep(0.05 * attempt)
    raise AssertionError("unreachable")


def _reflect_once(conn: Connection, schema: str | None, fast: bool) -> LiveSchema:
    """Reflect every table of `schema` with one multi-table call per aspect.

    On SQLite and MariaDB, whose `get_multi_*` loop table by table (PRAGMAs, SHOW CREATE
    TABLE), a one-query-per-aspect reader is used unless `fast` is False or it declines.
    """
    if fast and schema is None and conn.dialect.name == "sqlite":
        tables = reflect_sqlite(conn)
        if tables is not None:
            return _with_objects(conn, LiveSchema("sqlite", False, tables), schema)
    if fast and schema is None and conn.dialect.name == "mysql":
        found = reflect_mariadb(conn)
        if found is not None:
            return _with_objects(conn, LiveSchema("mysql", True, found), schema)
    insp = inspect(conn)
    names = [n for n in insp.get_table_names(schema=schema) if n != VERSION_TABLE]
    if conn.dialect.name == "sqlite":
        names = [n for n in names if n not in _sqlite_virtual(conn, schema)[1]]
    tables = {n: LiveTable(n) for n in names}
    if names:
        aspects = {
            "columns": insp.get_multi_columns,
            "indexes": insp.get_multi_indexes,
            "uniques": insp.get_multi_unique_constraints,
            "foreign_keys": insp.get_multi_foreign_keys,
            "primary_key": insp.get_multi_pk_constraint,
            "checks": insp.get_multi_check_constraints,
        }
        for attr, getter in aspects.items():
            for (_schema, table), value in _multi(getter, names).items():
                if table in tables:
                    setattr(tables[table], attr, value)
    if conn.dialect.name == "mysql":
        _mysql_sorting(conn, tables, schema)
    if conn.dialect.name == "postgresql":
        _pg_not_valid(conn, tables, schema)
    reflect_collations(conn, tables, schema)
    dialect = conn.dialect
    live = LiveSchema(dialect.name, bool(getattr(dialect, "is_mariadb", False)), tables)
    return _with_objects(conn, live, schema)


_OBJECTS = {
    "postgresql": {"extensions": "SELECT extname FROM pg_extension"},
    "mysql": {
        "triggers": "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS "
        "WHERE TRIGGER_SCHEMA = COALESCE(:schema, DATABASE())"
    },
    "sqlite": {"triggers": "SELECT name FROM sqlite_schema WHERE type = 'trigger'"},
}


# The account's own grants, global, on the schema (a GRANT's pattern: `LIKE`) or on a table.
_MYSQL_MAY_SEE_TRIGGERS = text(
    "SELECT 1 FROM information_schema.USER_PRIVILEGES WHERE PRIVILEGE_TYPE = 'TRIGGER' "
    "UNION ALL SELECT 1 FROM information_schema.SCHEMA_PRIVILEGES "
    "WHERE PRIVILEGE_TYPE = 'TRIGGER' AND COALESCE(:schema, DATABASE()) LIKE TABLE_SCHEMA "
    "UNION ALL SELECT 1 FROM information_schema.TABLE_PRIVILEGES "
    "WHERE PRIVILEGE_TYPE = 'TRIGGER' AND TABLE_SCHEMA = COALESCE(:schema, DATABASE()) LIMIT 1"
)


def _sqlite_virtual(conn: Connection, schema: str | None) -> tuple[set[str], set[str]]:
    """SQLite's virtual tables, and those plus their shadow tables (FTS5's `_data`, …)."""
    if schema is not None:
        return set(), set()
    rows = conn.execute(
        text("SELECT name, type FROM pragma_table_list WHERE schema = 'main'")
    ).all()
    virtual = {name for name, kind in rows if kind == "virtual"}
    return virtual, virtual | {name for name, kind in rows if kind == "shadow"}


def _with_objects(conn: Connection, live: LiveSchema, schema: str | None) -> LiveSchema:
    """Add triggers, extensions and virtual tables; leave virtual and shadow tables out of
    `tables` (their columns and indexes are the module's, not the models')."""
    for kind, sql in _OBJECTS.get(live.dialect, {}).items():
        live.objects[kind] = {str(row[0]) for row in conn.execute(text(sql), {"schema": schema})}
    if live.dialect == "mysql" and not live.objects["triggers"]:
        if not conn.execute(_MYSQL_MAY_SEE_TRIGGERS, {"schema": schema}).first():
            live.unseen["triggers"] = (
                "the account lacks the TRIGGER privilege, so the server shows it no trigger"
            )
    if live.dialect == "sqlite":
        virtual, hidden = _sqlite_virtual(conn, schema)
        live.objects["virtual_tables"] = virtual
        live.tables = {n: t for n, t in live.tables.items() if n not in hidden}
    return live


_PG_NOT_VALID = text(
    "SELECT t.relname, c.conname FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
    "JOIN pg_namespace n ON n.oid = c.connamespace WHERE NOT c.convalidated "
    "AND c.contype = 'f' AND n.nspname = COALESCE(:schema, current_schema())"
)


def _pg_not_valid(conn: Connection, tables: dict[str, LiveTable], schema: str | None) -> None:
    """Mark foreign keys left NOT VALID (an online repair interrupted before VALIDATE)."""
    for table, name in conn.execute(_PG_NOT_VALID, {"schema": schema}):
        for fk in tables[table].foreign_keys if table in tables else []:
            if fk.get("name") == name:
                fk["not_valid"] = True


def _mysql_sorting(conn: Connection, tables: dict[str, LiveTable], schema: str | None) -> None:
    """Add `column_sorting` to MySQL/MariaDB indexes with DESC columns."""
    for table, index, column in conn.execute(_MYSQL_DESC, {"schema": schema}):
        live = tables.get(table)
        for reflected in live.indexes if live else []:
            if reflected["name"] == index:
                reflected.setdefault("column_sorting", {})[column] = ("desc",)
