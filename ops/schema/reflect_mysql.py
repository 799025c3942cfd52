"""One-pass MariaDB reflection: one information_schema query per aspect for all tables.

SQLAlchemy's MySQL `get_multi_*` methods run SHOW CREATE TABLE once per table and parse it;
on a few hundred tables that is most of `check-schema`'s time. This reads every table's
columns, indexes, foreign keys and CHECK constraints with one query each, and parses each
column through SQLAlchemy's own SHOW CREATE column parser, so the output has the inspector's
shapes and types. Anything it does not reproduce exactly (MySQL's other default quoting,
generated columns, prefix or FULLTEXT indexes) returns None: callers fall back to the inspector.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from ops.schema.live import VERSION_TABLE, LiveTable

_WHERE = "TABLE_SCHEMA = DATABASE()"
_TABLES = text(
    "SELECT TABLE_NAME, TABLE_COLLATION FROM information_schema.TABLES "
    f"WHERE {_WHERE} AND TABLE_TYPE = 'BASE TABLE'"
)
_COLLATIONS = text("SELECT COLLATION_NAME, CHARACTER_SET_NAME FROM information_schema.COLLATIONS")
_COLUMNS = text(
    "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA, "
    "COLUMN_COMMENT, CHARACTER_SET_NAME, COLLATION_NAME, GENERATION_EXPRESSION "
    f"FROM information_schema.COLUMNS WHERE {_WHERE} ORDER BY TABLE_NAME, ORDINAL_POSITION"
)
_INDEXES = text(
    "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME, SUB_PART, COLLATION, INDEX_TYPE "
    f"FROM information_schema.STATISTICS WHERE {_WHERE} "
    "ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX"
)
# Two queries joined here: MariaDB runs the information_schema join ten times slower.
_FOREIGN_KEYS = text(
    "SELECT TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_TABLE_SCHEMA, "
    "REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE "
    f"WHERE {_WHERE} AND REFERENCED_TABLE_NAME IS NOT NULL "
    "ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION"
)
_RULES = text(
    "SELECT TABLE_NAME, CONSTRAINT_NAME, UPDATE_RULE, DELETE_RULE "
    "FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()"
)
_CHECKS = text(
    "SELECT TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
    "WHERE CONSTRAINT_SCHEMA = DATABASE() AND LEVEL = 'Table' ORDER BY TABLE_NAME, CONSTRAINT_NAME"
)

# A key's line of SHOW CREATE TABLE: its name, then what follows the referenced columns.
_SHOWN_KEY = re.compile(
    r"CONSTRAINT `((?:[^`]|``)+)` FOREIGN KEY [^\n]*?REFERENCES [^\n]*?\)([^\n]*)"
)


class Declined(Exception):
    """Something this reader does not reproduce exactly: use the inspector."""


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def column_definition(row: Any, table_collation: str | None) -> str:
    """The column's definition as SHOW CREATE TABLE prints it after the name (for SQLAlchemy's
    column parser): its set and collation only where they differ from the table's."""
    _table, _name, type_, nullable, default, extra, comment, charset, collation, generated = row
    if generated:
        raise Declined("generated column")
    line = str(type_)
    if collation is not None and collation != table_collation:
        line += f" CHARACTER SET {charset} COLLATE {collation}"
    line += " NOT NULL" if nullable == "NO" else ""
    if default is not None:
        line += f" DEFAULT {default}"  # MariaDB quotes a literal here, as SHOW CREATE does
    extra = (extra or "").lower()
    if "on update " in extra:
        line += " ON UPDATE " + extra.split("on update ", 1)[1].split()[0]
    if "auto_increment" in extra:
        line += " AUTO_INCREMENT"
    return line + (f" COMMENT {_quote(comment)}" if comment else "")


def _columns(conn: Connection, tables: dict[str, LiveTable]) -> None:
    from sqlalchemy.dialects.mysql.reflection import ReflectedState  # MariaDB's only

    parser: Any = conn.dialect._tabledef_parser  # type: ignore[attr-defined]
    parsed: dict[str, dict[str, Any]] = {}  # one parse per distinct definition (name aside)
    for row in conn.execute(_COLUMNS):
        live = tables.get(row[0])
        if live is None:
            continue
        definition = column_definition(row, live.table_collation)
        if definition not in parsed:
            state = ReflectedState()
            parser._parse_column(f"  `c` {definition}", state)
            if len(state.columns) != 1:
                raise Declined(f"column {row[1]!r} of {row[0]!r}")
            parsed[definition] = dict(state.columns[0])
        live.columns.append(dict(parsed[definition], name=row[1]))
        if row[8] is not None:
            live.collations[row[1]], live.charsets[row[1]] = row[8], row[7]


def _indexes(conn: Connection, tables: dict[str, LiveTable]) -> None:
    grouped: dict[tuple[str, str], dict[str, Any]] = {}
    for table, name, non_unique, column, sub_part, collation, kind in conn.execute(_INDEXES):
        if table not in tables:
            continue
        if sub_part is not None or kind not in ("BTREE", "HASH"):
            raise Declined(f"index {name!r} (prefix, FULLTEXT or SPATIAL)")
        entry = grouped.setdefault((table, name), {"unique": not non_unique, "columns": []})
        entry["columns"].append((column, collation == "D"))
    for (table, name), entry in grouped.items():
        names = [c for c, _ in entry["columns"]]
        live = tables[table]
        if name == "PRIMARY":
            live.primary_key = {"constrained_columns": names, "name": None}
            continue
        index: dict[str, Any] = {"name": name, "column_names": names, "unique": entry["unique"]}
        desc = {c: ("desc",) for c, d in entry["columns"] if d}
        if desc:
            index["column_sorting"] = desc
        live.indexes.append(index)
        if entry["unique"]:
            live.uniques.append({"name": name, "column_names": names, "duplicates_index": name})
    for live in tables.values():
        live.primary_key = live.primary_key or {"constrained_columns": [], "name": None}


def _shown_rules(conn: Connection, table: str) -> dict[tuple[str, str], tuple[str, str]]:
    """The keys' rules as SHOW CREATE TABLE prints them: it needs only SELECT on the table,
    where REFERENTIAL_CONSTRAINTS shows a SELECT-only account nothing."""
    shown = conn.execute(text(f"SHOW CREATE TABLE `{table.replace('`', '``')}`")).one()[1]
    return {
        (table, name.replace("``", "`")): (_rule(clauses, "UPDATE"), _rule(clauses, "DELETE"))
        for name, clauses in _SHOWN_KEY.findall(str(shown))
    }


def _rule(clauses: str, event: str) -> str:
    found = re.search(rf"ON {event} (RESTRICT|CASCADE|SET NULL|NO ACTION|SET DEFAULT)", clauses)
    return found.group(1) if found else "RESTRICT"


def _foreign_keys(conn: Connection, tables: dict[str, LiveTable]) -> None:
    schema = conn.execute(text("SELECT DATABASE()")).scalar()
    rules = {(t, n): (u, d) for t, n, u, d in conn.execute(_RULES)}
    keys = conn.execute(_FOREIGN_KEYS).all()
    for table in sorted({k[0] for k in keys if k[0] in tables and (k[0], k[1]) not in rules}):
        rules |= _shown_rules(conn, table)  # hidden from this account: ask the table itself
    grouped: dict[tuple[str, str], dict[str, Any]] = {}
    for table, name, column, ref_schema, ref_table, ref_column in keys:
        if table not in tables:
            continue
        on_update, on_delete = rules.get((table, name), ("RESTRICT", "RESTRICT"))
        options = {"onupdate": on_update, "ondelete": on_delete}
        entry = grouped.setdefault(
            (table, name),
            {
                "name": name,
                "constrained_columns": [],
                "referred_schema": None if ref_schema == schema else ref_schema,
                "referred_table": ref_table,
                "referred_columns": [],
                "options": {k: v for k, v in options.items() if v != "RESTRICT"},
            },
        )
        entry["constrained_columns"].append(column)
        entry["referred_columns"].append(ref_column)
    for (table, _name), entry in grouped.items():
        tables[table].foreign_keys.append(entry)


def _checks(conn: Connection, tables: dict[str, LiveTable]) -> None:
    for table, name, clause in conn.execute(_CHECKS):
        if table in tables:
            tables[table].checks.append({"name": name, "sqltext": clause})


def reflect_mariadb(conn: Connection) -> dict[str, LiveTable] | None:
    """Every table of the current MariaDB database, or None when the fast path does not apply
    (MySQL, which quotes column defaults differently; an index or column it does not mirror)."""
    if not getattr(conn.dialect, "is_mariadb", False):
        return None
    tables: dict[str, LiveTable] = {}
    sets: dict[str, str] = {name: charset for name, charset in conn.execute(_COLLATIONS)}
    for name, collation in conn.execute(_TABLES):
        if name != VERSION_TABLE:
            charset = sets.get(collation)
            tables[name] = LiveTable(name, table_collation=collation, table_charset=charset)
    try:
        _columns(conn, tables)
        _indexes(conn, tables)
        _foreign_keys(conn, tables)
        _checks(conn, tables)
    except (Declined, DBAPIError):  # a refused read (an older server) aborts nothing here
        return None
    return tables
