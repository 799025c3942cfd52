"""One-pass SQLite reflection: four queries over pragma table-valued functions for all tables.

SQLAlchemy's SQLite `get_multi_*` methods loop table by table (about a dozen PRAGMAs per
table); this reads every table's columns, indexes and foreign keys in one query each and
parses constraint names from the stored CREATE TABLE text. Output has the inspector's shapes.
Anything unusual (generated columns, WITHOUT ROWID quirks) returns None: callers fall back
to the inspector.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from sqlalchemy import Connection

from ops.schema.live import VERSION_TABLE, LiveTable

_NAME = r'"(?:[^"]|"")+"|\[[^\]]+\]|`[^`]+`|\w+'
_NAMED = re.compile(
    rf"CONSTRAINT\s+({_NAME})\s+(CHECK|UNIQUE|PRIMARY\s+KEY|FOREIGN\s+KEY)\s*\(", re.IGNORECASE
)
_TABLES = "SELECT name, sql FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
_COLUMNS = (
    'SELECT m.name, p.name, p.type, p."notnull", p.dflt_value, p.pk, p.hidden '
    "FROM sqlite_schema m JOIN pragma_table_xinfo(m.name) p WHERE m.type = 'table' "
    "ORDER BY m.name, p.cid"
)
_INDEXES = (
    'SELECT m.name, il.name, il."unique", il.origin, ii.name '
    "FROM sqlite_schema m JOIN pragma_index_list(m.name) il JOIN pragma_index_info(il.name) ii "
    "WHERE m.type = 'table' ORDER BY m.name, il.name, ii.seqno"
)
_FOREIGN_KEYS = (
    'SELECT m.name, f.id, f."table", f."from", f."to", f.on_delete '
    "FROM sqlite_schema m JOIN pragma_foreign_key_list(m.name) f WHERE m.type = 'table' "
    "ORDER BY m.name, f.id, f.seq"
)


def _unquote(name: str) -> str:
    if name[:1] in {'"', "`", "["}:
        return name[1:-1].replace('""', '"')
    return name


def _balanced(text: str, start: int) -> str:
    depth, quote = 0, ""
    for pos in range(start, len(text)):
        ch = text[pos]
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"`":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return text[start + 1 : pos]
    return text[start + 1 :]


def named_constraints(sql: str) -> list[tuple[str, str, str]]:
    """(kind, name, body) of every named constraint in a CREATE TABLE statement."""
    found = []
    for match in _NAMED.finditer(sql or ""):
        kind = " ".join(match.group(2).upper().split())
        found.append((kind, _unquote(match.group(1)), _balanced(sql, match.end() - 1)))
    return found


def _cols(body: str) -> tuple[str, ...]:
    return tuple(_unquote(part.strip().split()[0]) for part in body.split(",") if part.strip())


def _columns(conn: Connection, tables: dict[str, LiveTable], sql: dict[str, str]) -> bool:
    dialect: Any = conn.dialect
    pks: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for table, name, type_, notnull, default, pk, hidden in conn.exec_driver_sql(_COLUMNS):
        if table not in tables or hidden == 1:
            continue
        if hidden:
            return False
        info = dialect._get_column_info(
            name, type_.upper(), not notnull, default, pk, False, False, None
        )
        tables[table].columns.append(info)
        if pk:
            pks[table].append((pk, name))
    for table, live in tables.items():
        names = {k: n for k, n, _ in named_constraints(sql[table]) if k == "PRIMARY KEY"}
        live.primary_key = {
            "constrained_columns": [n for _, n in sorted(pks[table])],
            "name": names.get("PRIMARY KEY"),
        }
    return True


def _indexes(conn: Connection, tables: dict[str, LiveTable], sql: dict[str, str]) -> None:
    grouped: dict[tuple[str, str], dict[str, Any]] = {}
    for table, index, unique, origin, column in conn.exec_driver_sql(_INDEXES):
        if table not in tables:
            continue
        entry = grouped.setdefault((table, index), {"unique": unique, "origin": origin, "cols": []})
        entry["cols"].append(column)
    for (table, index), entry in grouped.items():
        if entry["origin"] == "u":
            cols = tuple(entry["cols"])
            names = [
                n
                for k, n, body in named_constraints(sql[table])
                if k == "UNIQUE" and _cols(body) == cols
            ]
            tables[table].uniques.append(
                {"name": names[0] if names else None, "column_names": list(cols)}
            )
        elif entry["origin"] == "c" and not index.startswith("sqlite_autoindex"):
            tables[table].indexes.append(
                {
                    "name": index,
                    "column_names": entry["cols"],
                    "unique": entry["unique"],
                    "dialect_options": {},
                }
            )


def _foreign_keys(conn: Connection, tables: dict[str, LiveTable], sql: dict[str, str]) -> None:
    grouped: dict[tuple[str, int], dict[str, Any]] = {}
    for table, fk_id, target, source, dest, on_delete in conn.exec_driver_sql(_FOREIGN_KEYS):
        if table not in tables:
            continue
        entry = grouped.setdefault(
            (table, fk_id),
            {
                "name": None,
                "constrained_columns": [],
                "referred_schema": None,
                "referred_table": target,
                "referred_columns": [],
                "options": {} if on_delete in (None, "NO ACTION") else {"ondelete": on_delete},
            },
        )
        entry["constrained_columns"].append(source)
        entry["referred_columns"].append(dest)
    for (table, _id), entry in sorted(grouped.items()):
        for kind, name, body in named_constraints(sql[table]):
            if kind == "FOREIGN KEY" and list(_cols(body)) == entry["constrained_columns"]:
                entry["name"] = name
        tables[table].foreign_keys.append(entry)


def reflect_sqlite(conn: Connection) -> dict[str, LiveTable] | None:
    """Every table of the main SQLite schema, or None when the fast path does not apply."""
    sql = {
        name: text or "" for name, text in conn.exec_driver_sql(_TABLES) if name != VERSION_TABLE
    }
    tables = {name: LiveTable(name) for name in sql}
    if not _columns(conn, tables, sql):
        return None
    _indexes(conn, tables, sql)
    _foreign_keys(conn, tables, sql)
    for name, live in tables.items():
        live.checks = [
            {"name": n, "sqltext": body.strip()}
            for k, n, body in named_constraints(sql[name])
            if k == "CHECK"
        ]
    return tables
