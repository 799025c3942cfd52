"""Refusals of access: a role without write privileges, a read-only database or replica."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from healthchecks.base import Fix
from healthchecks.refusal import Refusal
from healthchecks.remedy.common import Explanation, one, psql_target, rows, sqlite_path


def privilege(refusal: Refusal, engine: Engine, url: str) -> Explanation:
    dialect, database = engine.dialect.name, engine.url.database or ""
    table = refusal.table or "scrape_jobs"
    if dialect == "mysql":
        who = str(one(engine, "SELECT CURRENT_USER()") or f"{engine.url.username}@%")
        user, _, host = who.partition("@")
        grant = f"GRANT SELECT, INSERT, UPDATE, DELETE ON `{database}`.* TO '{user}'@'{host}';"
    else:
        user = str(one(engine, "SELECT current_user") or engine.url.username)
        grant = (
            f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{user}"; '
            f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{user}";'
        )
    return Explanation(
        f"The database role {user!r} may read but not write: the database refused "
        f"{_verb(refusal)} on {table} for lack of privilege, so every job write fails.",
        Fix(f"run as the tables' owner or an admin, in database {database}: {grant}", sql=grant),
        {"role": user, "database": database, "grant": grant},
    )


def _verb(refusal: Refusal) -> str:
    words = (refusal.statement or "").split()
    return words[0].upper() if words else "the write"


# -- read-only ------------------------------------------------------------------------------


def read_only(refusal: Refusal, engine: Engine, url: str) -> Explanation:
    return {"postgresql": _pg_read_only, "mysql": _mysql_read_only}.get(
        engine.dialect.name, _sqlite_read_only
    )(refusal, engine, url)


def _pg_read_only(refusal: Refusal, engine: Engine, url: str) -> Explanation:
    database, user = engine.url.database or "", engine.url.username or "postgres"
    in_recovery = bool(one(engine, "SELECT pg_is_in_recovery()"))
    source = one(
        engine, "SELECT source FROM pg_settings WHERE name = 'default_transaction_read_only'"
    )
    evidence = {"pg_is_in_recovery": in_recovery, "default_transaction_read_only_from": source}
    if in_recovery:
        return Explanation(
            "You are connected to a replica (a hot standby in recovery): it refuses every "
            "write. Point the service at the primary.",
            Fix("set SCRAPER_DATABASE_URL to the primary server (pg_is_in_recovery() is false)"),
            evidence,
        )
    if source == "user":
        sql = f'ALTER ROLE "{user}" SET default_transaction_read_only = off'
    elif source == "database":
        sql = f'ALTER DATABASE "{database}" SET default_transaction_read_only = off'
    else:
        sql = "ALTER SYSTEM SET default_transaction_read_only = off; SELECT pg_reload_conf()"
    return Explanation(
        f"Transactions are read-only by default here (default_transaction_read_only = on, set "
        f"at the {source or 'server'} level): every write is refused. Turn it off; new "
        "connections then write (restart the service to renew its pool).",
        Fix(f"psql {psql_target(engine)} -d postgres -c '{sql}'", sql=sql),
        {**evidence, "sql": sql},
    )


def _mysql_read_only(refusal: Refusal, engine: Engine, url: str) -> Explanation:
    flags = rows(engine, "SELECT @@read_only AS read_only, @@tx_read_only AS tx_read_only")
    evidence = flags[0] if flags else {}
    return Explanation(
        "The server runs read-only (read_only = ON, as a replica does): every write is "
        "refused. Point the service at the primary, or, if this is the primary, turn it off.",
        Fix(
            "SET GLOBAL read_only = OFF  (on the primary; or set SCRAPER_DATABASE_URL to it)",
            sql="SET GLOBAL read_only = OFF",
        ),
        evidence,
    )


def _sqlite_read_only(refusal: Refusal, engine: Engine, url: str) -> Explanation:
    path = sqlite_path(url)
    query = make_url(url).query
    if query.get("mode") == "ro" or query.get("immutable"):
        fixed = url.replace("mode=ro", "mode=rw")
        return Explanation(
            "SCRAPER_DATABASE_URL opens the SQLite file read-only (mode=ro): every write is "
            "refused.",
            Fix(f"export SCRAPER_DATABASE_URL='{fixed}'"),
            {"url": url, "path": str(path)},
        )
    where = path.parent if path else Path(".")
    return Explanation(
        f"The SQLite file {path} (or its folder, where the journal goes) is not writable by "
        f"user {_user()}: every write is refused.",
        Fix(f"chown {_user()} {path} {where} && chmod u+w {path} {where}"),
        {"path": str(path), "writable": os.access(path, os.W_OK) if path else None},
    )


def _user() -> str:
    try:
        import pwd  # POSIX only: a name reads better than a uid

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return str(os.getuid()) if hasattr(os, "getuid") else "the service user"
