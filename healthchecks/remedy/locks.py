"""A write that waited past the lock timeout: who holds the lock, where the database can tell."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from healthchecks.base import Fix
from healthchecks.refusal import Refusal
from healthchecks.remedy.common import Explanation, rows, sqlite_path, table_of


def locked(refusal: Refusal, engine: Engine, url: str) -> Explanation:
    table = refusal.table or table_of(refusal) or "scrape_jobs"
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


def _pg_holders(engine: Engine, table: str, url: str) -> list[dict[str, Any]]:
    return rows(
        engine,
        "SELECT a.pid, a.usename AS user, a.application_name AS application, "
        "a.client_addr::text AS client, a.state, a.xact_start::text AS since, l.mode, "
        "left(a.query, 200) AS query FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.relation = to_regclass(:table) AND l.granted AND a.pid <> pg_backend_pid() "
        "ORDER BY a.xact_start",
        table=table,
    )


def _mysql_holders(engine: Engine, table: str, url: str) -> list[dict[str, Any]]:
    holders = rows(
        engine,
        "SELECT m.THREAD_ID AS pid, p.USER AS user, p.HOST AS client, m.LOCK_MODE AS mode, "
        "p.TIME AS seconds, p.INFO AS query FROM information_schema.METADATA_LOCK_INFO m "
        "JOIN information_schema.PROCESSLIST p ON p.ID = m.THREAD_ID "
        "WHERE m.TABLE_NAME = :table AND m.THREAD_ID <> CONNECTION_ID()",
        table=table,
    )
    if holders:
        return holders
    return rows(
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
