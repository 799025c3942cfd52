"""Refusals from the server's own settings: statements cut by a time limit, a character set
that cannot store what users type. Each is named from the database's answer, with where the
setting comes from and the statement that lifts it."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from healthchecks.base import Fix
from healthchecks.refusal import Refusal
from healthchecks.remedy import locks
from healthchecks.remedy.common import (
    Explanation,
    account,
    mysql_admin_command,
    one,
    psql_target,
    rows,
    table_of,
)
from scraper.models import Base

_LIMIT = re.compile(r"MAX_STATEMENT_TIME\s+([\d.e-]+)", re.I)
_COLUMN = re.compile(r"for column `?(?:\w+`?\.`?)?(?P<table>\w+)`?\.`?(?P<column>\w+)`?")


def statement_timeout(refusal: Refusal, engine: Engine, url: str) -> Explanation:
    """The statement was cut by a time limit: where it is set, and the statement that lifts it."""
    if engine.dialect.name == "postgresql":
        return _pg_statement_timeout(refusal, engine, url)
    return _mysql_statement_time(refusal, engine, url)


# Where PostgreSQL's statement_timeout of a session comes from, most specific first (the
# order in which the server applies them): role in this database, role, database.
_PG_SETTINGS = """
SELECT r.rolname AS role, d.datname AS db, c.value
FROM pg_db_role_setting s
LEFT JOIN pg_roles r ON r.oid = s.setrole
LEFT JOIN pg_database d ON d.oid = s.setdatabase
CROSS JOIN LATERAL unnest(s.setconfig) AS c(value)
WHERE c.value LIKE 'statement_timeout=%%'
  AND (s.setrole = 0 OR r.rolname = current_user)
  AND (s.setdatabase = 0 OR d.datname = current_database())
ORDER BY (s.setrole <> 0) DESC, (s.setdatabase <> 0) DESC
"""


def _pg_statement_timeout(refusal: Refusal, engine: Engine, url: str) -> Explanation:
    """PostgreSQL canceled the statement at statement_timeout: set on the role, the database,
    the URL (`options=-c statement_timeout=…`) or the server; none of those -> the probe's own
    bound on a wait (a lock, a synchronous standby): the lock remedy names the holder."""
    found, session = _pg_timeout_source(engine)
    options = str(make_url(url).query.get("options", ""))
    if found is None and "statement_timeout" in options:
        fixed = make_url(url).difference_update_query(["options"])
        where, sql = f"by SCRAPER_DATABASE_URL (options={options!r})", None
        fix = Fix(f"export SCRAPER_DATABASE_URL='{fixed.render_as_string(hide_password=False)}'")
        value = options
    elif found is not None:
        role, db, value = found["role"], found["db"], found["value"].partition("=")[2]
        if role and db:
            where, sql = f"for the role {role} in {db}", f'ALTER ROLE "{role}" IN DATABASE "{db}"'
        elif role:
            where, sql = f"for the role {role}", f'ALTER ROLE "{role}"'
        else:
            where, sql = f"for the database {db}", f'ALTER DATABASE "{db}"'
        sql += " RESET statement_timeout"
        fix = Fix(f"psql {psql_target(engine)} -d {db or engine.url.database} -c '{sql}'", sql=sql)
    else:
        if not session or session == "0":  # the probe's own bound: a wait, not a limit
            return locks.locked(refusal, engine, url)
        value, where = f"{session}ms", "for the whole server (postgresql.conf or ALTER SYSTEM)"
        sql = "ALTER SYSTEM RESET statement_timeout"
        fix = Fix(
            f"psql {psql_target(engine)} -d postgres -c '{sql}' -c 'SELECT pg_reload_conf()'",
            sql=sql,
        )
    return Explanation(
        f"Statements of the service's role are canceled after {value} (statement_timeout, set "
        f"{where}): the database cuts the service's writes ({refusal.message}). Reset it; the "
        "service bounds its own web reads (SCRAPER_WEB_STATEMENT_TIMEOUT).",
        fix,
        {"statement_timeout": value, "set": where, "sql": sql},
    )


def _pg_timeout_source(engine: Engine) -> tuple[dict[str, Any] | None, str | None]:
    """The most specific statement_timeout set in the catalog for this role and database, and
    the value a session of the service's starts with (ms), both read with the limit lifted
    for this one transaction: the limit would cut the question."""
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
            found = conn.execute(text(_PG_SETTINGS)).first()
            session = conn.exec_driver_sql(
                "SELECT reset_val FROM pg_settings WHERE name = 'statement_timeout'"
            ).scalar()
    except Exception:  # evidence is best-effort
        return None, None
    return (dict(found._mapping) if found is not None else None), session


def _mysql_statement_time(refusal: Refusal, engine: Engine, url: str) -> Explanation:
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
