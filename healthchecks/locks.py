"""`database:locks`: is a write waiting on a lock, or does a transaction sit on the job tables?

A row lock held by a transaction left open elsewhere never refuses the write probe (which
writes rows of its own), yet it stalls the rescue, cancel or claim of that job. The database
knows who waits for whom: PostgreSQL `pg_blocking_pids()` over `pg_stat_activity` and
`pg_locks`; MariaDB `information_schema.INNODB_LOCK_WAITS` / `INNODB_TRX` / `PROCESSLIST`
(and the sessions waiting for a table's metadata lock, behind the transactions open before
them). The check names each blocking session (pid, user, application, state, when its
transaction and query started, what it holds) and the statement that ends it. A wait is
named only if the same session still waits `SETTLE` later: a busy row queues its writers
for milliseconds all day.

A warning, never a readiness failure (the node itself is fine): `ops doctor` makes a session
waiting on another a failing problem. A transaction holding locks on the service's tables for
longer than the service's own lock timeout (`SCRAPER_DB_LOCK_TIMEOUT`) is named even when
nobody waits on it at this instant: any service write of those rows would time out.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from healthchecks.base import CheckResult, Fix, Status, guarded
from healthchecks.remedy.common import rows
from scraper.models import Base

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from scraper.runtime import Runtime

NAME = "database:locks"
SHOWN = 5
SETTLE = 0.5  # seconds a lock wait must last (seen twice) to be named

_PG_WAITING = """
SELECT a.pid, a.usename AS user, a.application_name AS application, a.state,
       a.query_start::text AS query_start, a.wait_event_type AS waits_for,
       left(a.query, 200) AS query, pg_blocking_pids(a.pid) AS blocked_by
FROM pg_stat_activity a
WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
  AND cardinality(pg_blocking_pids(a.pid)) > 0
ORDER BY a.query_start
"""
# Every client session of this database in a transaction, with the tables it holds locks on.
_PG_SESSIONS = """
SELECT a.pid, a.usename AS user, a.application_name AS application,
       a.client_addr::text AS client, a.state, a.xact_start::text AS xact_start,
       a.query_start::text AS query_start, left(a.query, 200) AS query,
       extract(epoch FROM now() - a.xact_start)::float AS transaction_s,
       (SELECT string_agg(DISTINCT l.mode || ' on ' || c.relname, ', ')
          FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
         WHERE l.pid = a.pid AND l.granted AND c.relkind IN ('r', 'p')
           AND c.relnamespace <> 'pg_catalog'::regnamespace) AS holds,
       ARRAY(SELECT DISTINCT c.relname::text
          FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
         WHERE l.pid = a.pid AND l.granted AND c.relkind IN ('r', 'p')) AS tables
FROM pg_stat_activity a
WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
  AND a.backend_type = 'client backend' AND a.xact_start IS NOT NULL
ORDER BY a.xact_start
"""
_MYSQL_ROW_WAITS = """
SELECT r.trx_mysql_thread_id AS pid, r.trx_query AS query,
       CAST(r.trx_wait_started AS CHAR) AS query_start, 'row lock' AS waits_for,
       b.trx_mysql_thread_id AS blocked_by,
       CONCAT(bl.lock_mode, ' ', bl.lock_type, ' lock on ', bl.lock_table) AS blocking_lock
FROM information_schema.INNODB_LOCK_WAITS w
JOIN information_schema.INNODB_TRX r ON r.trx_id = w.requesting_trx_id
JOIN information_schema.INNODB_TRX b ON b.trx_id = w.blocking_trx_id
LEFT JOIN information_schema.INNODB_LOCKS bl ON bl.lock_id = w.blocking_lock_id
"""
_MYSQL_MDL_WAITS = """
SELECT p.ID AS pid, p.USER AS user, p.TIME AS seconds, p.STATE AS waits_for,
       left(p.INFO, 200) AS query
FROM information_schema.PROCESSLIST p
WHERE p.DB = DATABASE() AND p.STATE LIKE 'Waiting for table metadata lock%'
  AND p.ID <> CONNECTION_ID()
"""
_MYSQL_SESSIONS = """
SELECT p.ID AS pid, p.USER AS user, p.HOST AS client, p.COMMAND AS state,
       CAST(t.trx_started AS CHAR) AS xact_start, p.TIME AS seconds_in_state,
       TIMESTAMPDIFF(SECOND, t.trx_started, NOW()) AS transaction_s,
       t.trx_rows_locked AS rows_locked, t.trx_tables_locked AS tables_locked,
       left(COALESCE(p.INFO, t.trx_query), 200) AS query
FROM information_schema.INNODB_TRX t
JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id
WHERE p.ID <> CONNECTION_ID() AND (p.DB = DATABASE() OR p.DB IS NULL)
ORDER BY t.trx_started
"""


def _pg(engine: Engine, tables: set[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(sessions waiting, with `blocked_by`; sessions in a transaction, with what they hold)."""
    waiting = rows(engine, _PG_WAITING)
    sessions = rows(engine, _PG_SESSIONS)
    for session in sessions:
        session["service_tables"] = sorted(set(session.pop("tables") or []) & tables)
    return waiting, sessions


def _mysql(engine: Engine, tables: set[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    waiting = rows(engine, _MYSQL_ROW_WAITS)
    sessions = rows(engine, _MYSQL_SESSIONS)
    for session in sessions:  # InnoDB counts what a transaction locked, not on which table
        locked = (session.get("rows_locked") or 0) + (session.get("tables_locked") or 0)
        session["service_tables"] = ["(rows or tables)"] if locked else []
        session["holds"] = (
            f"{session.get('rows_locked') or 0} row lock(s) in "
            f"{session.get('tables_locked') or 0} table(s)"
        )
    by_pid = {s["pid"]: s for s in sessions}
    for row in waiting:
        blocker = by_pid.get(row["blocked_by"])
        if blocker is not None and row.get("blocking_lock"):  # the lock it holds, by table
            blocker["holds"] = f"{row['blocking_lock']} ({blocker['holds']})"
        row["blocked_by"] = [row["blocked_by"]]
    for row in rows(engine, _MYSQL_MDL_WAITS):
        # Without the metadata-lock plugin the server does not say who holds it: every
        # transaction open longer than the waiter has waited is in its way.
        older = [s["pid"] for s in sessions if (s.get("transaction_s") or 0) >= row["seconds"]]
        waiting.append({**row, "blocked_by": older})
    return waiting, sessions


def _ending(dialect: str, pid: Any) -> str:
    return f"SELECT pg_terminate_backend({pid})" if dialect == "postgresql" else f"KILL {pid}"


def describe(session: dict[str, Any]) -> str:
    """`pid 123 (user, application, state since …): holds …; running/last ran "…"`."""
    keys = ("user", "application", "client", "state", "xact_start", "query_start", "holds")
    facts = ", ".join(f"{k}={session[k]}" for k in keys if session.get(k) not in (None, ""))
    query = f'; query "{session["query"]}"' if session.get("query") else ""
    return f"pid {session['pid']} ({facts}){query}"


def _blocking(
    waiting: list[dict[str, Any]], sessions: dict[Any, dict[str, Any]]
) -> list[dict[str, Any]]:
    """The sessions at the head of each wait chain: they block and wait on nobody."""
    waits = {w["pid"] for w in waiting}
    heads: list[Any] = []
    for wait in waiting:
        for pid in wait.get("blocked_by") or []:
            if pid not in waits and pid not in heads:
                heads.append(pid)
    return [sessions.get(pid, {"pid": pid}) for pid in heads]


@guarded(NAME, unit="sessions", component_type="datastore")
def check(runtime: Runtime) -> CheckResult:
    """Name the sessions that block others, or sit on the service's tables past its timeout."""
    engine = runtime.engine
    dialect = engine.dialect.name
    if dialect not in ("postgresql", "mysql"):
        return _result(Status.PASS, 0, "SQLite has one writer: the write probe sees its lock.")
    tables = set(Base.metadata.tables)
    read = _pg if dialect == "postgresql" else _mysql
    waiting, sessions = read(engine, tables)
    if waiting:
        # Transactions queue on a busy row for milliseconds all day (two workers' claims, a
        # rescue): a wait is a finding only if the same session still waits a moment later.
        time.sleep(SETTLE)
        seen = {w["pid"] for w in waiting}
        waiting, sessions = read(engine, tables)
        waiting = [w for w in waiting if w["pid"] in seen]
    by_pid = {s["pid"]: s for s in sessions}
    limit = runtime.settings.db_lock_timeout
    blocking = _blocking(waiting, by_pid)
    if not blocking:
        blocking = [
            s for s in sessions if s["service_tables"] and (s.get("transaction_s") or 0) > limit
        ]
    if not blocking and not waiting:
        return _result(Status.PASS, 0, "No session waits on a lock or holds one for long.")
    return _found(dialect, waiting, blocking, limit)


def _found(
    dialect: str, waiting: list[dict[str, Any]], blocking: list[dict[str, Any]], limit: float
) -> CheckResult:
    ends = "; ".join(_ending(dialect, s["pid"]) for s in blocking[:SHOWN])
    named = "; ".join(describe(s) for s in blocking[:SHOWN])
    if waiting:
        queries = "; ".join(
            f'pid {w["pid"]} ({w.get("waits_for") or "lock"}) "{w.get("query") or ""}"'
            for w in waiting[:SHOWN]
        )
        output = f"{len(waiting)} session(s) wait for a lock: {queries}. " + (
            f"Blocked by {named}." if blocking else "The database does not say who holds it."
        )
    else:
        output = (
            f"A transaction has held locks on the service's tables for longer than the "
            f"service's lock timeout ({limit:g} s), so a write of those rows would time out: "
            f"{named}."
        )
    fix = (
        Fix(f"end that transaction in its application, or as an admin: {ends}", sql=ends)
        if blocking
        else Fix("end the long-running transaction that holds the lock, then run `ops doctor`")
    )
    return _result(
        Status.WARN,
        len(waiting) or len(blocking),
        output,
        fix=fix,
        evidence={"waiting": waiting[:SHOWN], "blocking": blocking[:SHOWN]},
    )


def _result(status: Status, observed: int, output: str, **extra: Any) -> CheckResult:
    return CheckResult(
        NAME,
        status,
        observed=observed,
        unit="sessions",
        output=output,
        component_type="datastore",
        **extra,
    )
