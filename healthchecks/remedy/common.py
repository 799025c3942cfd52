"""What every explanation needs: its shape, best-effort catalog reads, quoting."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, text

from healthchecks.base import Fix
from healthchecks.refusal import Refusal
from scraper.db import sqlite_file


@dataclass(frozen=True)
class Explanation:
    """Why the database refused, what it told us, and the command that fixes it."""

    summary: str
    fix: Fix
    evidence: dict[str, Any] = field(default_factory=dict)


def rows_or_none(engine: Engine, sql: str, **params: Any) -> list[dict[str, Any]] | None:
    """Rows as dicts; None when the database will not tell (no privilege, no such view)."""
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(text(sql), params)]
    except Exception:  # the explanation must not fail because a catalog is unreadable
        return None


def rows(engine: Engine, sql: str, **params: Any) -> list[dict[str, Any]]:
    """Rows as dicts; an empty list when the database will not tell (evidence is best-effort)."""
    return rows_or_none(engine, sql, **params) or []


def one(engine: Engine, sql: str, **params: Any) -> Any:
    found = rows(engine, sql, **params)
    return next(iter(found[0].values())) if found else None


def account(engine: Engine) -> tuple[str, str]:
    """The role the server says the service is, as a GRANT names it: (user, host); the host
    is MariaDB's account host, "" on PostgreSQL."""
    if engine.dialect.name == "mysql":
        who = str(one(engine, "SELECT CURRENT_USER()") or f"{engine.url.username}@%")
        user, _, host = who.partition("@")
        return user, host
    return str(one(engine, "SELECT current_user") or engine.url.username), ""


def sql_fix(sql: str) -> Fix:
    return Fix(sql, sql=sql)


def psql_target(engine: Engine) -> str:
    url = engine.url
    return f"-h {url.host or 'localhost'} -p {url.port or 5432} -U {url.username or 'postgres'}"


def mysql_admin_command(engine: Engine, sql: str) -> str:
    """`mysql … -u root -e '<sql>'`: the statement run as an admin on this URL's server."""
    url = engine.url
    return f"mysql -h {url.host or 'localhost'} -P {url.port or 3306} -u root -e {_shell(sql)}"


def _shell(sql: str) -> str:
    """The statement as one shell word, as readable as the shell allows."""
    if "'" not in sql:
        return f"'{sql}'"
    if not any(c in sql for c in '`$\\"!'):
        return f'"{sql}"'  # 'name'@'host' reads better inside double quotes
    return shlex.quote(sql)


def quote(name: str, dialect: str) -> str:
    return f"`{name}`" if dialect == "mysql" else f'"{name}"'


sqlite_path = sqlite_file  # the file a SQLite URL names (absolute), or None


def table_of(refusal: Refusal) -> str | None:
    words = (refusal.statement or "").replace("(", " ").split()
    for keyword in ("INTO", "UPDATE"):
        if keyword in words and words.index(keyword) + 1 < len(words):
            return words[words.index(keyword) + 1].strip('`"')
    return None
