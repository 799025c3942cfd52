"""`ops jobs` and `ops reconcile`: both job stores side by side, and moving held jobs home."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text

from ops.errors import CannotConnect
from ops.schema import safe_url
from scraper.errors import one_line
from scraper.jobs import JobPage, ReconcileResult
from scraper.runtime import Runtime

COLUMNS = ("ID", "STATUS", "STORAGE", "PROGRESS", "QUERY", "CREATED", "WORKER")
QUARANTINE_FIX = "fix the cause; every `ops reconcile` tries quarantined jobs again"


def ensure_reachable(runtime: Runtime) -> None:
    """Raise CannotConnect unless the database answers a trivial query."""
    try:
        with runtime.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        raise CannotConnect(safe_url(runtime.engine), one_line(exc)) from exc


def list_jobs(
    runtime: Runtime, status: str | None, storage: str | None, limit: int = 50
) -> JobPage:
    """Jobs from the fallback store and the database (fallback first: they need attention).

    An unreachable database still lists the fallback jobs, with `database_error` saying why
    the database's are missing (exit 1, a problem found, not 2: the command did run).
    """
    try:
        ensure_reachable(runtime)
    except CannotConnect as exc:
        page = runtime.jobs.list(status=status, storage="fallback", limit=limit)
        page.database_error = str(exc)
        return page
    return runtime.jobs.list(status=status, storage=storage, limit=limit)


def jobs_json(page: JobPage) -> dict[str, Any]:
    """The listing as `ops jobs --json` prints it."""
    return {
        "jobs": [job.to_json() for job in page.jobs],
        "total": page.total,
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
    lines.append(f"{len(page.jobs)} shown of {page.total}")
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
