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
_CHECK = re.compile(r"\bCHECK\s*\(", re.IGNORECASE)
_ORDER = re.compile(r"\s+(ASC|DESC)$", re.IGNORECASE)
_IDENT = re.compile(rf"^(?:{_NAME})$")
_COLLATE = re.compile(rf"\bCOLLATE\s+({_NAME})", re.IGNORECASE)
_CLAUSES = {"CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"}
_TABLES = "SELECT name, sql FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
_INDEX_SQL = "SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL"
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


def check_constraints(sql: str) -> list[dict[str, Any]]:
    """Every CHECK of a CREATE TABLE statement, named or not, in the inspector's shape."""
    named = {m.end() - 1: _unquote(m.group(1)) for m in _NAMED.finditer(sql or "")}
    return [
        {"name": named.get(m.end() - 1), "sqltext": _balanced(sql, m.end() - 1).strip()}
        for m in _CHECK.finditer(sql or "")
    ]


def _split_top(body: str) -> list[str]:
    parts, depth, start, quote = [], 0, 0, ""
    for pos, ch in enumerate(body):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"`":
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(body[start:pos].strip())
            start = pos + 1
    return [*parts, body[start:].strip()]


def index_elements(sql: str) -> dict[str, Any]:
    """column_names / expressions / column_sorting of a CREATE INDEX statement."""
    start = re.search(r"\bON\s+(?:" + _NAME + r")\s*\(", sql, re.IGNORECASE)
    names: list[str | None] = []
    expressions: list[str] = []
    sorting: dict[str, tuple[str, ...]] = {}
    if start is None:
        return {}
    for part in _split_top(_balanced(sql, start.end() - 1)):
        order = _ORDER.search(part)
        element = part[: order.start()].strip() if order else part
        plain = _IDENT.match(element) is not None
        text = _unquote(element) if plain else element
        names.append(text if plain else None)
        expressions.append(text)
        if order and order.group(1).upper() == "DESC":
            sorting[text] = ("desc",)
    result: dict[str, Any] = {"column_names": names, "column_sorting": sorting}
    if None in names:
        result["expressions"] = expressions
    return result


def sqlite_collations(sql: str) -> dict[str, str]:
    """Column name -> COLLATE name, from a CREATE TABLE statement."""
    if "COLLATE" not in (sql or "").upper():
        return {}  # most tables: skip splitting the statement
    start = sql.find("(")
    found = {}
    for part in _split_top(_balanced(sql, start)) if start >= 0 else []:
        words = part.split(None, 1)
        match = _COLLATE.search(part)
        if words and match and words[0].upper() not in _CLAUSES:
            found[_unquote(words[0])] = _unquote(match.group(1))
    return found


def _cols(body: str) -> tuple[str, ...]:
    return tuple(_unquote(part.strip().split()[0]) for part in body.split(",") if part.strip())


Named = dict[str, list[tuple[str, str, str]]]  # each table's named_constraints


def _columns(conn: Connection, tables: dict[str, LiveTable], named: Named) -> bool:
    dialect: Any = conn.dialect
    pks: dict[str, list[tuple[int, str]]] = defaultdict(list)
    types: dict[str, Any] = {}  # one type per declaration: read, never changed
    for table, name, type_, notnull, default, pk, hidden in conn.exec_driver_sql(_COLUMNS):
        if table not in tables or hidden == 1:
            continue
        if hidden:
            return False
        declared = type_.upper()
        if declared not in types:
            types[declared] = dialect._resolve_type_affinity(declared)
        info = {
            "name": name,
            "type": types[declared],
            "nullable": not notnull,
            "default": None if default is None else str(default),
            "primary_key": pk,
        }  # SQLAlchemy's _get_column_info for a column that is not generated
        tables[table].columns.append(info)
        if pk:
            pks[table].append((pk, name))
    for table, live in tables.items():
        names = {k: n for k, n, _ in named[table] if k == "PRIMARY KEY"}
        live.primary_key = {
            "constrained_columns": [n for _, n in sorted(pks[table])],
            "name": names.get("PRIMARY KEY"),
        }
    return True


def _indexes(conn: Connection, tables: dict[str, LiveTable], named: Named) -> None:
    index_sql = {name: text for name, text in conn.exec_driver_sql(_INDEX_SQL)}
    grouped: dict[tuple[str, str], dict[str, Any]] = {}
    for table, index, unique, origin, column in conn.exec_driver_sql(_INDEXES):
        if table not in tables:
            continue
        entry = grouped.setdefault((table, index), {"unique": unique, "origin": origin, "cols": []})
        entry["cols"].append(column)
    for (table, index), entry in grouped.items():
        if entry["origin"] == "u":
            cols = tuple(entry["cols"])
            names = [n for k, n, body in named[table] if k == "UNIQUE" and _cols(body) == cols]
            tables[table].uniques.append(
                {"name": names[0] if names else None, "column_names": list(cols)}
            )
        elif entry["origin"] == "c" and not index.startswith("sqlite_autoindex"):
            reflected = {"name": index, "column_names": entry["cols"], "unique": entry["unique"]}
            reflected |= index_elements(index_sql.get(index, ""))
            tables[table].indexes.append(reflected | {"dialect_options": {}})


def _foreign_keys(conn: Connection, tables: dict[str, LiveTable], named: Named) -> None:
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
        for kind, name, body in named[table]:
            if kind == "FOREIGN KEY" and list(_cols(body)) == entry["constrained_columns"]:
                entry["name"] = name
        tables[table].foreign_keys.append(entry)


def reflect_sqlite(conn: Connection) -> dict[str, LiveTable] | None:
    """Every table of the main SQLite schema, or None when the fast path does not apply."""
    sql = {
        name: text or "" for name, text in conn.exec_driver_sql(_TABLES) if name != VERSION_TABLE
    }
    tables = {name: LiveTable(name) for name in sql}
    named = {name: named_constraints(text) for name, text in sql.items()}
    if not _columns(conn, tables, named):
        return None
    _indexes(conn, tables, named)
    _foreign_keys(conn, tables, named)
    for name, live in tables.items():
        live.checks = check_constraints(sql[name])
        live.collations = dict(sqlite_collations(sql[name]))
    return tables
