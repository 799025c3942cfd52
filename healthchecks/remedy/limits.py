"""Refusals from the server's own settings: statements cut by a time limit, a character set
that cannot store what users type. Each is named from the database's answer, with where the
setting comes from and the statement that lifts it."""

from __future__ import annotations

import re

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from healthchecks.base import Fix
from healthchecks.refusal import Refusal
from healthchecks.remedy.common import (
    Explanation,
    account,
    mysql_admin_command,
    one,
    rows,
    table_of,
)
from scraper.models import Base

_LIMIT = re.compile(r"MAX_STATEMENT_TIME\s+([\d.e-]+)", re.I)
_COLUMN = re.compile(r"for column `?(?:\w+`?\.`?)?(?P<table>\w+)`?\.`?(?P<column>\w+)`?")


def statement_timeout(refusal: Refusal, engine: Engine, url: str) -> Explanation:
    """MariaDB cut the statement at max_statement_time: from the account, the URL or the server."""
    session = one(engine, "SELECT @@session.max_statement_time")
    server = one(engine, "SELECT @@global.max_statement_time")
    user, host = account(engine)
    who = f"{user}@{host}"
    grants = " ".join(str(next(iter(r.values()))) for r in rows(engine, "SHOW GRANTS"))
    limited = _LIMIT.search(grants)
    init = str(make_url(url).query.get("init_command", ""))
    evidence = {"max_statement_time": session, "global": server, "account": who}
    if limited and float(limited.group(1)) > 0:
        sql = f"ALTER USER '{user}'@'{host}' WITH MAX_STATEMENT_TIME 0"
        where, fix = (
            f"for the account {user}@{host}",
            Fix(mysql_admin_command(engine, sql), sql=sql),
        )
    elif "max_statement_time" in init.lower():
        fixed = make_url(url).difference_update_query(["init_command"])
        sql, where = None, f"by SCRAPER_DATABASE_URL (init_command={init!r})"
        fix = Fix(f"export SCRAPER_DATABASE_URL='{fixed.render_as_string(hide_password=False)}'")
    else:
        sql, where = "SET GLOBAL max_statement_time = 0", "for the whole server"
        fix = Fix(mysql_admin_command(engine, sql), sql=sql)
    return Explanation(
        f"Statements of the service's account are cut after {session} s (max_statement_time, "
        f"set {where}): the database interrupts the service's writes ({refusal.message}). "
        "Lift the limit (0 = none); the service bounds its own web reads "
        "(SCRAPER_WEB_STATEMENT_TIMEOUT).",
        fix,
        {**evidence, "set": where, "sql": sql},
    )


def charset(refusal: Refusal, engine: Engine) -> Explanation | None:
    """MariaDB: a column whose character set cannot hold a character the service writes.

    Every table of the service's with such columns is converted at once, foreign key checks
    off for the session: a key column converted alone is refused (1833), and both ends of a
    foreign key must share a character set."""
    named = _COLUMN.search(refusal.message)
    table = named.group("table") if named else refusal.table or table_of(refusal)
    column = named.group("column") if named else refusal.column
    if not table or not column:
        return None
    found = rows(
        engine,
        "SELECT TABLE_NAME AS t, COLUMN_NAME AS c, CHARACTER_SET_NAME AS charset "
        "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
        "AND CHARACTER_SET_NAME IS NOT NULL AND CHARACTER_SET_NAME <> 'utf8mb4'",
    )
    current = next((r["charset"] for r in found if (r["t"], r["c"]) == (table, column)), None)
    if current is None:
        return None
    tables = sorted({r["t"] for r in found if r["t"] in Base.metadata.tables})
    collation = str(one(engine, "SELECT @@collation_database") or "")
    if not collation.startswith("utf8mb4_"):
        collation = "utf8mb4_unicode_ci"
    database = engine.url.database or ""
    converts = [
        f"ALTER TABLE `{database}`.`{t}` CONVERT TO CHARACTER SET utf8mb4 COLLATE {collation}"
        for t in tables
    ]
    sql = "; ".join(["SET FOREIGN_KEY_CHECKS = 0", *converts, "SET FOREIGN_KEY_CHECKS = 1"])
    return Explanation(
        f"Column {table}.{column} is in character set {current}, which cannot store what users "
        f"type (an emoji, most scripts): the database refuses such values "
        f"({refusal.message}). Convert {', '.join(tables)} to utf8mb4: every value is kept "
        "(each table is rewritten: writes to it wait while it runs).",
        Fix(mysql_admin_command(engine, sql), sql=sql),
        {"table": table, "column": column, "charset": current, "tables": tables, "sql": sql},
    )
