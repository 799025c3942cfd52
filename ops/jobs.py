"""`ops jobs` and `ops reconcile`: both job stores side by side, and moving held jobs home."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import ArgumentError

from ops.errors import CannotConnect, safe_url
from scraper.db import sqlite_file
from scraper.errors import one_line
from scraper.jobs import JobPage, ReconcileResult
from scraper.runtime import Runtime

T = TypeVar("T")
JOBS_TABLE = "scrape_jobs"
COLUMNS = ("ID", "STATUS", "STORAGE", "PROGRESS", "QUERY", "CREATED", "WORKER")
QUARANTINE_FIX = "fix the cause; every `ops reconcile` tries quarantined jobs again"


def ensure_reachable(runtime: Runtime) -> None:
    """Raise CannotConnect unless the database answers a trivial query."""
    _reach(runtime, lambda conn: None)


def _reach(runtime: Runtime, then: Callable[[Connection], T]) -> T:
    """Run `then` on a connection; CannotConnect if there is none (a URL of no known kind
    stays an ArgumentError: the CLI names it as a bad URL)."""
    try:
        with runtime.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            return then(conn)
    except ArgumentError:
        raise
    except Exception as exc:
        url = safe_url(runtime.settings.database_url)  # as given, not the mode=ro form
        raise CannotConnect(url, one_line(exc)) from exc


def database_problem(runtime: Runtime) -> str | None:
    """Why the database's jobs cannot be listed: no SQLite file, unreachable, no jobs table."""
    path = sqlite_file(runtime.settings.database_url)
    if path is not None and not path.exists():
        return f"the SQLite database {path} does not exist"
    try:
        has_jobs_table = _reach(runtime, lambda conn: inspect(conn).has_table(JOBS_TABLE))
    except CannotConnect as exc:
        return str(exc)
    if not has_jobs_table:
        return f"the database has no {JOBS_TABLE} table (`ops init-db` creates the tables)"
    return None


def list_jobs(
    runtime: Runtime, status: str | None, storage: str | None, limit: int = 50
) -> JobPage:
    """Jobs from the fallback store and the database (fallback first: they need attention).

    A database whose jobs cannot be read (unreachable, no file, no table) still lists the
    fallback jobs, with `database_error` saying why the database's are missing (exit 1, a
    problem found, not 2: the command did run).
    """
    problem = database_problem(runtime) if storage != "fallback" else None
    if problem is not None:
        page = runtime.jobs.list(status=status, storage="fallback", limit=limit)
        page.database_error = problem
        return page
    return runtime.jobs.list(status=status, storage=storage, limit=limit)


def jobs_json(page: JobPage) -> dict[str, Any]:
    """The listing as `ops jobs --json` prints it."""
    return {
        "jobs": [job.to_json() for job in page.jobs],
        "total": page.total,
        "total_is_estimate": page.total_is_estimate,
        "database_error": page.database_error,
        "missing_columns": page.missing_columns,
    }


def jobs_table(page: JobPage) -> str:
    """The listing as a fixed-width table."""
    rows = [COLUMNS] + [
        (
            job.id,
            job.status,
            job.storage + (" (quarantined)" if job.quarantined else ""),
            f"{job.progress}%",
            job.query[:30],
            job.created_at.strftime("%Y-%m-%d %H:%M:%S") if job.created_at else "-",
            job.locked_by or "-",
        )
        for job in page.jobs
    ]
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)) for row in rows]
    total = f"about {page.total} (estimated)" if page.total_is_estimate else str(page.total)
    lines.append(f"{len(page.jobs)} shown of {total}")
    lines.extend(
        f"quarantined {job.id}: the database keeps refusing it: {job.quarantined}"
        for job in page.jobs
        if job.quarantined
    )
    if page.database_error:
        lines.append(
            "warning: the database could not be read; only fallback jobs are listed: "
            f"{page.database_error}"
        )
    if page.missing_columns:
        lines.append(
            f"warning: scrape_jobs lacks column(s) {', '.join(page.missing_columns)}; its jobs "
            "were read without them (run `ops doctor`)"
        )
    return "\n".join(line.rstrip() for line in lines)


@dataclass(frozen=True)
class ReconcileSummary:
    """How many held jobs moved into the database, were already there, or are still refused."""

    moved: list[str]
    already_present: list[str]
    failed: dict[str, str] = field(default_factory=dict)
    quarantined: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_json(self) -> dict[str, Any]:
        return {
            "moved": len(self.moved),
            "already_present": len(self.already_present),
            "failed": len(self.failed),
            "moved_ids": self.moved,
            "already_present_ids": self.already_present,
            "failures": self.failed,
            "quarantined": self.quarantined,
        }

    def text(self) -> str:
        if not (self.moved or self.already_present or self.failed):
            return "nothing to reconcile: the fallback store is empty"
        lines = [
            f"moved {len(self.moved)} job(s) into the database; "
            f"{len(self.already_present)} were already there; {len(self.failed)} still refused"
        ]
        lines.extend(f"  {job_id}: {reason}" for job_id, reason in self.failed.items())
        lines.extend(
            f"  {job_id}: quarantined (refused the same way repeatedly; {QUARANTINE_FIX})"
            for job_id in self.quarantined
        )
        return "\n".join(lines)


def reconcile_jobs(runtime: Runtime) -> ReconcileSummary:
    """Move every fallback job into the database once (a second run finds nothing to do).

    Unlike the automatic passes, this tries quarantined jobs too: the operator asked.
    """
    ensure_reachable(runtime)
    result: ReconcileResult = runtime.jobs.reconcile(include_quarantined=True)
    return ReconcileSummary(
        result.moved, result.already_present, dict(result.failed), dict(result.quarantined)
    )
