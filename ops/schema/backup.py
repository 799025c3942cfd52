"""Back up a SQLite database file before a migration changes it.

The backup is for the operator and is never copied back automatically: other processes may
have written to the live file since it was taken (the repair itself rolls back atomically).
"""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

KEEP_BACKUPS = 3  # every self-heal takes one: only the newest few are kept
STAMP = r"\d{8}T\d{12}Z"  # what backup_sqlite names them by; sorts as time does


def sqlite_path(engine: Engine) -> Path | None:
    """The database file of a file-backed SQLite engine, else None."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def _copy(source: Path, target: Path) -> None:
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)  # consistent even with a WAL file beside it
    finally:
        dst.close()
        src.close()


def _is_empty(path: Path) -> bool:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
    finally:
        conn.close()


def backup_sqlite(
    engine: Engine, backup_dir: Path | None = None, keep: int = KEEP_BACKUPS
) -> Path | None:
    """Copy the SQLite file to `<name>.<timestamp>.bak` (beside it, or in `backup_dir`), then
    delete all but the newest `keep` backups of that file (only names this function gives)."""
    path = sqlite_path(engine)
    if path is None or not path.exists() or _is_empty(path):
        return None  # nothing to lose: no file, or a file without a single table
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    folder = Path(backup_dir) if backup_dir is not None else path.parent
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{path.name}.{stamp}.bak"
    _copy(path, target)
    prune_backups(folder, path.name, keep)
    return target


def prune_backups(folder: Path, name: str, keep: int = KEEP_BACKUPS) -> list[Path]:
    """Delete all but the newest `keep` `<name>.<timestamp>.bak` files in `folder`; the
    deleted. Other files (an operator's own copies, other databases' backups) stay."""
    ours = re.compile(rf"{re.escape(name)}\.{STAMP}\.bak")
    backups = sorted(p for p in folder.iterdir() if ours.fullmatch(p.name))
    old = backups[: max(len(backups) - keep, 0)]
    for stale in old:
        stale.unlink(missing_ok=True)  # another process may prune at the same time
    return old
