"""From a classified refusal to its root cause and a fix that works on this database.

Each kind asks the database what it can tell (the role, why it is read-only, who holds the
lock, which trigger or constraint refused) and names the exact statement or command.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from healthchecks.base import Fix
from healthchecks.refusal import Refusal, RefusalKind


@dataclass(frozen=True)
class Explanation:
    """Why the database refused, what it told us, and the command that fixes it."""

    summary: str
    fix: Fix
    evidence: dict[str, Any] = field(default_factory=dict)


def _rows(engine: Engine, sql: str, **params: Any) -> list[dict[str, Any]]:
    """Rows as dicts; an empty list when the database will not tell (evidence is best-effort)."""
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(text(sql), params)]
    except Exception:  # the explanation must not fail because a catalog is unreadable
        return []


def _one(engine: Engine, sql: str, **params: Any) -> Any:
    rows = _rows(engine, sql, **params)
    return next(iter(rows[0].values())) if rows else None


def _sql_fix(sql: str) -> Fix:
    return Fix(sql, sql=sql)


def _psql_target(engine: Engine) -> str:
    url = engine.url
    return f"-h {url.host or 'localhost'} -p {url.port or 5432} -U {url.username or 'postgres'}"


def _q(name: str, dialect: str) -> str:
    return f"`{name}`" if dialect == "mysql" else f'"{name}"'


def sqlite_path(url: str) -> Path | None:
    """The file a SQLite URL names (absolute), or None for memory / other dialects."""
    parsed = make_url(url)
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return None
    if database.startswith("file:"):
        database = database[5:].split("?", 1)[0]
    return Path(database).absolute()


# -- privilege ------------------------------------------------------------------------------


def _privilege(refusal: Refusal, engine: Engine, url: str) -> Explanation:
    dialect, database = engine.dialect.name, engine.url.database or ""
    table = refusal.table or "scrape_jobs"
    if dialect == "mysql":
        who = str(_one(engine, "SELECT CURRENT_USER()") or f"{engine.url.username}@%")
        user, _, host = who.partition("@")
        grant = f"GRANT SELECT, INSERT, UPDATE, DELETE ON `{database}`.* TO '{user}'@'{host}';"
    else:
        user = str(_one(engine, "SELECT current_user") or engine.url.username)
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


def _read_only(refusal: Refusal, engine: Engine, url: str) -> Explanation:
    return {"postgresql": _pg_read_only, "mysql": _mysql_read_only}.get(
        engine.dialect.name, _sqlite_read_only
    )(refusal, engine, url)


def _pg_read_only(refusal: Refusal, engine: Engine, url: str) -> Explanation:
    database, user = engine.url.database or "", engine.url.username or "postgres"
    in_recovery = bool(_one(engine, "SELECT pg_is_in_recovery()"))
    source = _one(
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
        Fix(f"psql {_psql_target(engine)} -d postgres -c '{sql}'", sql=sql),
        {**evidence, "sql": sql},
    )


def _mysql_read_only(refusal: Refusal, engine: Engine, url: str) -> Explanation:
    flags = _rows(engine, "SELECT @@read_only AS read_only, @@tx_read_only AS tx_read_only")
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


# -- locks ----------------------------------------------------------------------------------


def _locked(refusal: Refusal, engine: Engine, url: str) -> Explanation:
    table = refusal.table or _table_of(refusal) or "scrape_jobs"
    holders = {
        "postgresql": _pg_holders,
        "mysql": _mysql_holders,
    }.get(engine.dialect.name, _sqlite_holders)(engine, table, url)
    if holders:
        first = holders[0]
        pid = first.get("pid")
        fix = {
            "postgresql": f"SELECT pg_terminate_backend({pid})",
            "mysql": f"KILL {pid}",
        }.get(engine.dialect.name, f"kill {pid}")
        who = ", ".join(_describe_holder(h) for h in holders[:3])
        return Explanation(
            f"Another session holds a lock on {table} and the write waited past the lock "
            f"timeout: {who}. End that transaction (or stop that process).",
            Fix(
                f"end the holder's transaction, or: {fix}",
                sql=fix if "KILL" in fix or "SELECT" in fix else None,
            ),
            {"lock_holders": holders[:5], "table": table},
        )
    return Explanation(
        f"The write waited for a lock on {table} past the lock timeout; the database does not "
        "say who holds it. Look for a long transaction or a process with the database open.",
        Fix("end the long-running transaction that holds the lock, then run `ops doctor`"),
        {"table": table},
    )


def _describe_holder(holder: dict[str, Any]) -> str:
    parts = [f"{k}={v}" for k, v in holder.items() if v not in (None, "")]
    return "(" + ", ".join(parts) + ")"


def _table_of(refusal: Refusal) -> str | None:
    words = (refusal.statement or "").replace("(", " ").split()
    for keyword in ("INTO", "UPDATE"):
        if keyword in words and words.index(keyword) + 1 < len(words):
            return words[words.index(keyword) + 1].strip('`"')
    return None


def _pg_holders(engine: Engine, table: str, url: str) -> list[dict[str, Any]]:
    return _rows(
        engine,
        "SELECT a.pid, a.usename AS user, a.application_name AS application, "
        "a.client_addr::text AS client, a.state, a.xact_start::text AS since, l.mode, "
        "left(a.query, 200) AS query FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.relation = to_regclass(:table) AND l.granted AND a.pid <> pg_backend_pid() "
        "ORDER BY a.xact_start",
        table=table,
    )


def _mysql_holders(engine: Engine, table: str, url: str) -> list[dict[str, Any]]:
    holders = _rows(
        engine,
        "SELECT m.THREAD_ID AS pid, p.USER AS user, p.HOST AS client, m.LOCK_MODE AS mode, "
        "p.TIME AS seconds, p.INFO AS query FROM information_schema.METADATA_LOCK_INFO m "
        "JOIN information_schema.PROCESSLIST p ON p.ID = m.THREAD_ID "
        "WHERE m.TABLE_NAME = :table AND m.THREAD_ID <> CONNECTION_ID()",
        table=table,
    )
    if holders:
        return holders
    return _rows(
        engine,
        "SELECT t.trx_mysql_thread_id AS pid, p.USER AS user, p.HOST AS client, "
        "t.trx_started AS since, t.trx_query AS query FROM information_schema.INNODB_TRX t "
        "LEFT JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id "
        "WHERE t.trx_mysql_thread_id <> CONNECTION_ID() ORDER BY t.trx_started",
    )


def _sqlite_holders(engine: Engine, table: str, url: str) -> list[dict[str, Any]]:
    """Processes with the file open (Linux /proc); SQLite itself cannot name the holder."""
    path = sqlite_path(url)
    proc = Path("/proc")
    if path is None or not proc.is_dir():
        return []
    targets = {str(path), f"{path}-wal", f"{path}-journal"}
    holders = []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        if _has_open(entry, targets):
            holders.append({"pid": int(entry.name), "command": _cmdline(entry)})
    return holders


def _has_open(proc_dir: Path, targets: set[str]) -> bool:
    try:
        return any(os.readlink(fd) in targets for fd in (proc_dir / "fd").iterdir())
    except OSError:  # gone, or not ours to read
        return False


def _cmdline(proc_dir: Path) -> str:
    try:
        raw = (proc_dir / "cmdline").read_bytes()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()[:200]


# -- constraints and triggers ---------------------------------------------------------------


def _not_null(refusal: Refusal, engine: Engine, url: str) -> Explanation:
    where = f"{refusal.table or _table_of(refusal) or '?'}.{refusal.column or '?'}"
    return Explanation(
        f"Column {where} is NOT NULL without a default and the service does not write it: "
        "every insert into that table fails. Relaxing it to NULL keeps every value.",
        Fix("ops migrate", heal="migrate"),
        {"column": where},
    )


def _value(refusal: Refusal, engine: Engine, url: str) -> Explanation:
    table = refusal.table or _table_of(refusal) or "?"
    return Explanation(
        f"A value the service writes does not fit a column of {table} (narrower or of another "
        "type than the models): those writes fail. Widening keeps every value.",
        Fix("ops migrate", heal="migrate"),
        {"table": table, "column": refusal.column},
    )


def _triggers(engine: Engine, table: str) -> list[str]:
    sql = {
        "postgresql": "SELECT tgname AS name FROM pg_trigger "
        "WHERE tgrelid = to_regclass(:table) AND NOT tgisinternal",
        "mysql": "SELECT TRIGGER_NAME AS name FROM information_schema.TRIGGERS "
        "WHERE EVENT_OBJECT_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = :table",
    }.get(
        engine.dialect.name,
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :table",
    )
    return [row["name"] for row in _rows(engine, sql, table=table)]


def _trigger(refusal: Refusal, engine: Engine, url: str) -> Explanation:
    table = refusal.table or _table_of(refusal) or "scrape_jobs"
    names = _triggers(engine, table)
    on = f" ON {_q(table, engine.dialect.name)}" if engine.dialect.name == "postgresql" else ""
    drops = "; ".join(f"DROP TRIGGER {_q(n, engine.dialect.name)}{on}" for n in names)
    return Explanation(
        f"A trigger on {table} ({', '.join(names) or 'unnamed'}) refuses the rows the service "
        f"writes: {refusal.message}",
        Fix(drops or f"drop the trigger on {table} that raises this error", sql=drops or None),
        {"triggers": names, "table": table},
    )


def _check(refusal: Refusal, engine: Engine, url: str) -> Explanation:
    table = refusal.table or _table_of(refusal) or "scrape_jobs"
    name = refusal.constraint
    if name is None or engine.dialect.name == "sqlite":
        if _triggers(engine, table) and name is None:
            return _trigger(refusal, engine, url)
        return Explanation(
            f"A CHECK constraint on {table} ({name}) refuses a value the service writes.",
            Fix("ops migrate --allow-destructive  (rebuilds the table as the models define it)"),
            {"constraint": name, "table": table},
        )
    d = engine.dialect.name
    drop = f"ALTER TABLE {_q(table, d)} DROP CONSTRAINT {_q(name, d)}"
    return Explanation(
        f"The CHECK constraint {name} on {table} refuses a value the service writes "
        "(a job's status or progress as the models allow them).",
        Fix(f"{drop}; then run `ops migrate` (restores the models' own checks)", sql=drop),
        {"constraint": name, "table": table, "definition": _check_definition(engine, name)},
    )


def _check_definition(engine: Engine, name: str) -> str | None:
    if engine.dialect.name == "postgresql":
        sql = "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = :name"
    else:
        sql = (
            "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
            "WHERE CONSTRAINT_SCHEMA = DATABASE() AND CONSTRAINT_NAME = :name"
        )
    value = _one(engine, sql, name=name)
    return None if value is None else str(value)


def _foreign_key(refusal: Refusal, engine: Engine, url: str) -> Explanation:
    table = refusal.table or _table_of(refusal) or "?"
    name, d = refusal.constraint, engine.dialect.name
    if name and d != "sqlite":
        kind = "FOREIGN KEY" if d == "mysql" else "CONSTRAINT"
        drop = f"ALTER TABLE {_q(table, d)} DROP {kind} {_q(name, d)}"
        fix = Fix(drop, sql=drop)
    else:
        fix = Fix("ops migrate --allow-destructive  (drops foreign keys the models do not have)")
    return Explanation(
        f"A foreign key on {table} ({name or 'unnamed'}) refuses the rows the service writes: "
        "it points at rows the service never creates.",
        fix,
        {"constraint": name, "table": table},
    )


def _unique(refusal: Refusal, engine: Engine, url: str) -> Explanation:
    table = refusal.table or _table_of(refusal) or "?"
    d = engine.dialect.name
    name = refusal.constraint or _unique_index(engine, table, refusal.column)
    if name is None:
        fix = Fix("ops migrate --allow-destructive  (drops unique constraints not in the models)")
    elif d == "mysql":
        fix = _sql_fix(f"ALTER TABLE {_q(table, d)} DROP INDEX {_q(name, d)}")
    elif d == "postgresql" and _one(
        engine, "SELECT 1 FROM pg_constraint WHERE conname = :n", n=name
    ):
        fix = _sql_fix(f"ALTER TABLE {_q(table, d)} DROP CONSTRAINT {_q(name, d)}")
    else:
        fix = _sql_fix(f"DROP INDEX {_q(name, d)}")
    return Explanation(
        f"A unique constraint on {table} ({name or refusal.column}) that the models do not "
        "have refuses rows the service writes (they repeat values it allows to repeat).",
        fix,
        {"constraint": name, "table": table, "column": refusal.column},
    )


def _unique_index(engine: Engine, table: str, column: str | None) -> str | None:
    if engine.dialect.name != "sqlite" or column is None:
        return None
    for index in _rows(engine, f"PRAGMA index_list({_q(table, 'sqlite')})"):
        if index.get("unique") and index.get("origin") == "c":
            cols = _rows(engine, f"PRAGMA index_info({_q(index['name'], 'sqlite')})")
            if [c["name"] for c in cols] == [column]:
                return str(index["name"])
    return None


# -- schema and connection ------------------------------------------------------------------


def _schema(refusal: Refusal, engine: Engine, url: str) -> Explanation:
    what = (
        f"table {refusal.table} is missing"
        if refusal.kind is RefusalKind.MISSING_TABLE
        else f"column {refusal.column} is missing from {refusal.table or _table_of(refusal)}"
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
    RefusalKind.PRIVILEGE: _privilege,
    RefusalKind.READ_ONLY: _read_only,
    RefusalKind.LOCKED: _locked,
    RefusalKind.NOT_NULL: _not_null,
    RefusalKind.VALUE: _value,
    RefusalKind.CHECK: _check,
    RefusalKind.TRIGGER: _trigger,
    RefusalKind.FOREIGN_KEY: _foreign_key,
    RefusalKind.UNIQUE: _unique,
    RefusalKind.UNKNOWN_COLUMN: _schema,
    RefusalKind.MISSING_TABLE: _schema,
    RefusalKind.MISSING_DATABASE: lambda r, e, u: missing_database(e),
    RefusalKind.CONNECTION: _connection,
}


def explain(refusal: Refusal, engine: Engine, url: str) -> Explanation:
    """The root cause and the working fix for this refusal, on this database."""
    return EXPLAIN.get(refusal.kind, _other)(refusal, engine, url)
