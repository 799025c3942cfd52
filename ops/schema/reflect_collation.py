"""Reflect column collations and character sets: one catalogue query per dialect.

SQLAlchemy's inspector reports neither reliably (MySQL's only when SHOW CREATE TABLE prints
them, PostgreSQL's never, SQLite's never), yet a unique key's case-sensitivity depends on
them. PostgreSQL: `pg_attribute.attcollation` where it is not the type's default; MariaDB /
MySQL: `information_schema.COLUMNS` and `TABLES`; SQLite: `COLLATE` in the stored CREATE TABLE.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from ops.schema.live import LiveTable
from ops.schema.reflect_sqlite import sqlite_collations

_PG = text(
    "SELECT c.relname, a.attname, co.collname FROM pg_attribute a "
    "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
    "JOIN pg_type t ON t.oid = a.atttypid JOIN pg_collation co ON co.oid = a.attcollation "
    "WHERE c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped "
    "AND a.attcollation <> t.typcollation AND n.nspname = COALESCE(:schema, current_schema())"
)
_MYSQL_COLUMNS = text(
    "SELECT TABLE_NAME, COLUMN_NAME, CHARACTER_SET_NAME, COLLATION_NAME "
    "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = COALESCE(:schema, DATABASE()) "
    "AND COLLATION_NAME IS NOT NULL"
)
_MYSQL_TABLES = text(
    "SELECT t.TABLE_NAME, t.TABLE_COLLATION, c.CHARACTER_SET_NAME "
    "FROM information_schema.TABLES t LEFT JOIN information_schema.COLLATIONS c "
    "ON c.COLLATION_NAME = t.TABLE_COLLATION "
    "WHERE t.TABLE_SCHEMA = COALESCE(:schema, DATABASE()) AND t.TABLE_TYPE = 'BASE TABLE'"
)
_SQLITE_TABLES = "SELECT name, sql FROM sqlite_schema WHERE type = 'table'"


def reflect_collations(conn: Connection, tables: dict[str, LiveTable], schema: str | None) -> None:
    """Fill `collations` (and on MariaDB/MySQL `charsets` and the table defaults) in place."""
    reader = {"postgresql": _postgresql, "mysql": _mysql, "sqlite": _sqlite}.get(conn.dialect.name)
    if reader is not None and tables:
        reader(conn, tables, schema)


def _postgresql(conn: Connection, tables: dict[str, LiveTable], schema: str | None) -> None:
    for table, column, collation in conn.execute(_PG, {"schema": schema}):
        if table in tables:
            tables[table].collations[column] = None if collation == "default" else collation


def _mysql(conn: Connection, tables: dict[str, LiveTable], schema: str | None) -> None:
    for table, column, charset, collation in conn.execute(_MYSQL_COLUMNS, {"schema": schema}):
        if table in tables:
            tables[table].collations[column] = collation
            tables[table].charsets[column] = charset
    for table, collation, charset in conn.execute(_MYSQL_TABLES, {"schema": schema}):
        if table in tables:
            tables[table].table_collation, tables[table].table_charset = collation, charset


def _sqlite(conn: Connection, tables: dict[str, LiveTable], schema: str | None) -> None:
    if schema is not None:
        return  # an attached database: its sqlite_schema is not read here
    for table, sql in conn.exec_driver_sql(_SQLITE_TABLES):
        if table in tables:
            tables[table].collations.update(sqlite_collations(sql))
