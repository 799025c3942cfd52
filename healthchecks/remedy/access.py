"""Refusals of access: a role without write privileges, a read-only database or replica."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from healthchecks.base import Fix
from healthchecks.refusal import Refusal
from healthchecks.remedy.common import (
    Explanation,
    account,
    mysql_admin_command,
    one,
    psql_target,
    rows,
    rows_or_none,
    sqlite_path,
)
from ops.schema.hidden import hidden_tables
from scraper.models import Base


def privilege(refusal: Refusal, engine: Engine, url: str) -> Explanation:
    if engine.dialect.name == "postgresql":
        return _pg_privilege(refusal, engine)
    database = engine.url.database or ""
    table = refusal.table or "scrape_jobs"
    user, host = account(engine)
    grant = f"GRANT SELECT, INSERT, UPDATE, DELETE ON `{database}`.* TO '{user}'@'{host}';"
    return Explanation(
        f"The database role {user!r} may read but not write: the database refused "
        f"{_verb(refusal)} on {table} for lack of privilege, so every job write fails.",
        Fix(f"run as the tables' owner or an admin, in database {database}: {grant}", sql=grant),
        {"role": user, "database": database, "grant": grant},
    )


_SCHEMA_DENIED = re.compile(r"permission denied for schema (?P<schema>\w+)")
# What this role lacks on the service's tables and their id sequences, in the current schema.
_PG_LACKING = """
SELECT c.relname AS name, c.relkind AS kind, p.privilege
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
CROSS JOIN unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'USAGE']) AS p(privilege)
WHERE (c.relkind IN ('r', 'p') AND c.relname = ANY(:tables) AND p.privilege <> 'USAGE'
       AND NOT has_table_privilege(c.oid, p.privilege))
   OR (c.relkind = 'S' AND p.privilege = 'USAGE' AND NOT has_sequence_privilege(c.oid, 'USAGE')
       AND EXISTS (SELECT 1 FROM pg_depend d JOIN pg_class t ON t.oid = d.refobjid
                   WHERE d.objid = c.oid AND d.deptype IN ('a', 'i')
                   AND t.relname = ANY(:tables)))
ORDER BY c.relkind DESC, c.relname, p.privilege
"""


def _pg_privilege(refusal: Refusal, engine: Engine) -> Explanation:
    """Name what the role lacks (asked of the catalog after the refusal) and grant just that."""
    database = engine.url.database or ""
    user, _ = account(engine)
    schema = _SCHEMA_DENIED.search(refusal.message)
    if schema:
        name = schema.group("schema")
        grant = f'GRANT USAGE ON SCHEMA "{name}" TO "{user}";'
        lacking = {f"schema {name}": ["USAGE"]}
    else:
        tables = sorted(Base.metadata.tables)
        found = rows(engine, _PG_LACKING, tables=tables)
        lacking = {}
        for row in found:
            what = f"sequence {row['name']}" if row["kind"] == "S" else row["name"]
            lacking.setdefault(what, []).append(row["privilege"])
        grant = " ".join(_pg_grant(what, privileges, user) for what, privileges in lacking.items())
    if not grant:  # the catalog would not say: grant what the service needs everywhere
        grant = (
            f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{user}"; '
            f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{user}";'
        )
    refused = refusal.table or (schema.group("schema") if schema else "scrape_jobs")
    named = lacking.get(refused) or lacking.get(f"sequence {refused}") or []
    what = f"{' and '.join(named)} on {refused}" if named else f"{_verb(refusal)} on {refused}"
    listed = "; ".join(f"{', '.join(p)} on {t}" for t, p in lacking.items())
    return Explanation(
        f"The database role {user!r} lacks {what}: the database refused the service's "
        f"{_verb(refusal)} for lack of privilege, so the service's writes fail."
        + (f" Missing: {listed}." if len(lacking) > 1 else ""),
        Fix(f"run as the tables' owner or an admin, in database {database}: {grant}", sql=grant),
        {"role": user, "database": database, "lacking": lacking, "grant": grant},
    )


def hidden_table(table: str, engine: Engine) -> Explanation | None:
    """PostgreSQL: a table "missing" to this role that exists in a schema it cannot use or does
    not search. The fix is the grant or the search_path, never `ops migrate` (which would
    build empty tables beside the ones that hold the data)."""
    try:
        hidden = hidden_tables(engine, [table]).get(table)
    except SQLAlchemyError:  # evidence is best-effort: the refusal's own explanation stands
        return None
    if hidden is None:
        return None
    user, _ = account(engine)
    schema, usable = hidden.schema, hidden.usable
    if not usable:
        sql = f'GRANT USAGE ON SCHEMA "{schema}" TO "{user}";'
        why = f"lacks USAGE on {schema}, the schema that holds them"
    else:
        sql = f'ALTER ROLE "{user}" SET search_path = "{schema}";'
        why = f"does not search schema {schema}, which holds them (search_path)"
    return Explanation(
        f"The service's tables exist ({table} in schema {schema}) but the database role "
        f"{user!r} {why}: to it they look missing. Do not create them again beside the data; "
        "let the role see them.",
        Fix(f"run as the schema's owner or an admin: {sql} then restart the service", sql=sql),
        {"role": user, "schema": schema, "table": table, "grant": sql, "hidden": True},
    )


def _pg_grant(what: str, privileges: list[str], user: str) -> str:
    if what.startswith("sequence "):
        return f'GRANT USAGE, SELECT ON SEQUENCE "{what.split(" ", 1)[1]}" TO "{user}";'
    return f'GRANT {", ".join(privileges)} ON "{what}" TO "{user}";'


def _pg_primary(engine: Engine) -> str | None:
    """HOST:PORT of the server this standby streams from (None if it does not say)."""
    found = rows_or_none(
        engine,
        "SELECT sender_host, sender_port FROM pg_stat_wal_receiver WHERE sender_host IS NOT NULL",
    )
    if not found:
        return None
    return f"{found[0]['sender_host']}:{found[0]['sender_port']}"


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
        primary = _pg_primary(engine)
        evidence["primary"] = primary
        of = f" of {primary}" if primary else ""
        where = f"the primary at {primary}" if primary else "the primary server"
        return Explanation(
            f"You are connected to a hot standby / read-only replica{of} (in recovery): it "
            "refuses every write. Point the service at the primary.",
            Fix(f"set SCRAPER_DATABASE_URL to {where} (pg_is_in_recovery() is false there)"),
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
    flags = {
        "read_only": one(engine, "SELECT @@global.read_only"),
        "super_read_only": one(engine, "SELECT @@global.super_read_only"),  # MySQL only
        "tx_read_only": _first(engine, "@@session.tx_read_only", "@@transaction_read_only"),
    }
    if _on(flags["tx_read_only"]) and not _on(flags["read_only"]):
        return _mysql_session_read_only(engine, url, flags)
    replica = _mysql_replica_source(engine)
    evidence = {**flags, "replica": None if replica is None else bool(replica), "source": replica}
    if replica:
        return Explanation(
            f"You are connected to a replica (it replicates from {replica}; read_only = ON): "
            "it refuses every write. Point the service at the primary.",
            Fix(f"set SCRAPER_DATABASE_URL to the primary server ({replica})"),
            evidence,
        )
    sql = "SET GLOBAL read_only = OFF"
    if replica is None:
        known = (
            "Whether it is a replica could not be read (SHOW REPLICA STATUS needs the SLAVE "
            "MONITOR / REPLICATION CLIENT privilege): check that first, a replica must stay "
            "read-only and the service must point at its primary."
        )
    else:
        known = "It is not a replica (SHOW REPLICA STATUS is empty)."
    return Explanation(
        f"The server runs read-only (read_only = ON): every write by an account without "
        f"SUPER / READ ONLY ADMIN is refused. {known} Turn it off as an admin (add -p if that "
        "account has a password), and remove read_only from the server's option files so a "
        "restart does not bring it back.",
        Fix(mysql_admin_command(engine, sql), sql=sql),
        {**evidence, "sql": sql},
    )


def _on(value: Any) -> bool:
    """A server flag is set (MariaDB 11 reports read_only as a word, older ones as 0/1)."""
    return str(value).upper() not in ("NONE", "0", "OFF")


def _first(engine: Engine, *variables: str) -> Any:
    """The first of these server variables that exists here (MariaDB and MySQL name some apart)."""
    for variable in variables:
        value = one(engine, f"SELECT {variable}")
        if value is not None:
            return value
    return None


def _mysql_replica_source(engine: Engine) -> str | None:
    """The primary this server replicates from; "" when it replicates from none; None: unknown."""
    for sql in ("SHOW REPLICA STATUS", "SHOW SLAVE STATUS"):
        found = rows_or_none(engine, sql)
        if found is not None:
            first = found[0] if found else {}
            return str(first.get("Master_Host") or first.get("Source_Host") or "")
    return None


def _mysql_session_read_only(engine: Engine, url: str, flags: dict[str, Any]) -> Explanation:
    """The server writes, but this connection's transactions are read-only."""
    parsed = make_url(url)
    init = str(parsed.query.get("init_command", ""))
    evidence = {**flags, "init_command": init or None}
    if "READ ONLY" in init.upper():
        fixed = parsed.difference_update_query(["init_command"])
        return Explanation(
            f"SCRAPER_DATABASE_URL makes every connection read-only (init_command={init!r}): "
            "every write is refused although the server accepts writes.",
            Fix(f"export SCRAPER_DATABASE_URL='{fixed.render_as_string(hide_password=False)}'"),
            evidence,
        )
    sql = "SET GLOBAL TRANSACTION READ WRITE"
    return Explanation(
        "New sessions start read-only (tx_read_only = 1, the server's default transaction "
        "access mode): every write is refused although read_only is OFF.",
        Fix(mysql_admin_command(engine, sql), sql=sql),
        {**evidence, "sql": sql},
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
