"""From a classified refusal to its root cause and a fix that works on this database.

Each kind asks the database what it can tell (the role, why it is read-only, who holds the
lock, which trigger or constraint refused) and names the exact statement or command.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine

from healthchecks.base import Fix
from healthchecks.refusal import Refusal, RefusalKind
from healthchecks.remedy import access, constraints, limits, locks
from healthchecks.remedy.common import Explanation, sqlite_path, table_of
from healthchecks.remedy.connect import connection_fault

__all__ = ["Explanation", "explain", "missing_database", "sqlite_path"]


def _schema(refusal: Refusal, engine: Engine, url: str) -> Explanation:
    if refusal.kind is RefusalKind.MISSING_TABLE and refusal.table:
        hidden = access.hidden_table(refusal.table, engine)
        if hidden is not None:  # never build the tables anew beside the ones that hold the data
            return hidden
    what = (
        f"table {refusal.table} is missing"
        if refusal.kind is RefusalKind.MISSING_TABLE
        else f"column {refusal.column} is missing from {refusal.table or table_of(refusal)}"
    )
    return Explanation(
        f"The schema lacks what the service writes: {what}.",
        Fix("ops migrate", heal="migrate"),
        {"table": refusal.table, "column": refusal.column},
    )


def missing_database(engine: Engine) -> Explanation:
    """`createdb` / `CREATE DATABASE` for the database the URL names, run as an admin."""
    url, database = engine.url, engine.url.database or ""
    host, port, user = url.host or "localhost", url.port, url.username or ""
    if engine.dialect.name == "mysql":
        password = " -p" if url.password else ""
        cmd = (
            f"mysql -h {host} -P {port or 3306} -u {user or 'root'}{password} -e "
            f"'CREATE DATABASE `{database}` CHARACTER SET utf8mb4' && ops init-db"
        )
    else:
        who = user or "postgres"
        cmd = f"createdb -h {host} -p {port or 5432} -U {who} {database} && ops init-db"
    return Explanation(
        f"The database {database!r} does not exist on {host}: the server answers, but there is "
        "nothing to connect to. Create it, then create the tables.",
        Fix(cmd),
        {"database": database, "host": host},
    )


def _connection(refusal: Refusal, engine: Engine, url: str) -> Explanation:
    named = connection_fault(refusal, engine)
    if named is not None:
        return named
    return Explanation(
        f"The database cannot be reached: {refusal.message}",
        Fix("start the database server or correct SCRAPER_DATABASE_URL, then run `ops doctor`"),
        {},
    )


def _other(refusal: Refusal, engine: Engine, url: str) -> Explanation:
    return Explanation(
        f"The database refused the service's write: {refusal.message}",
        Fix("ops check-schema  (compare the live schema with the models)"),
        {},
    )


EXPLAIN: dict[RefusalKind, Callable[[Refusal, Engine, str], Explanation]] = {
    RefusalKind.PRIVILEGE: access.privilege,
    RefusalKind.READ_ONLY: access.read_only,
    RefusalKind.LOCKED: locks.locked,
    RefusalKind.TIMEOUT: limits.statement_timeout,
    RefusalKind.NOT_NULL: constraints.not_null,
    RefusalKind.VALUE: constraints.value,
    RefusalKind.CHECK: constraints.check,
    RefusalKind.TRIGGER: constraints.trigger,
    RefusalKind.FOREIGN_KEY: constraints.foreign_key,
    RefusalKind.UNIQUE: constraints.unique,
    RefusalKind.UNKNOWN_COLUMN: _schema,
    RefusalKind.MISSING_TABLE: _schema,
    RefusalKind.MISSING_DATABASE: lambda r, e, u: missing_database(e),
    RefusalKind.CONNECTION: _connection,
}


def explain(refusal: Refusal, engine: Engine, url: str) -> Explanation:
    """The root cause and the working fix for this refusal, on this database."""
    return EXPLAIN.get(refusal.kind, _other)(refusal, engine, url)
