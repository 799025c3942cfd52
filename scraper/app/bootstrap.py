"""Start-up of `scraper serve` and `scraper worker`: heal the schema, reconcile the fallback."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy.exc import SQLAlchemyError

from scraper.db import is_transient
from scraper.errors import ScraperError, one_line
from scraper.migrations.manage import auto_heal
from scraper.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass
class StartupReport:
    schema_changes: list[str] = field(default_factory=list)
    reconciled: int = 0
    problems: list[str] = field(default_factory=list)


def prepare(runtime: Runtime) -> StartupReport:
    """Apply the additive schema repair (SCRAPER_AUTO_HEAL=safe), then reconcile held jobs once.

    A failure here is logged and reported, never fatal: the service still starts and its
    health checks and `ops doctor` say what is wrong.
    """
    report = StartupReport()
    _make_data_dir(runtime, report)
    _repair_journal(runtime, report)
    if runtime.settings.auto_heal == "safe":
        _heal_schema(runtime, report)
    try:
        result = runtime.jobs.reconcile()
    except SQLAlchemyError as exc:
        report.problems.append(f"reconcile at start-up failed: {one_line(exc)}")
        return report
    report.reconciled = len(result.moved)
    if result.moved:
        log.info("start-up: reconciled %d fallback jobs into the database", len(result.moved))
    return report


def _repair_journal(runtime: Runtime, report: StartupReport) -> None:
    """Cut a torn tail off the fallback journal and quarantine unreadable lines (logged)."""
    try:
        scan = runtime.fallback.repair()
    except (OSError, ScraperError) as exc:
        log.exception("start-up repair of the fallback journal failed")
        report.problems.append(f"fallback journal repair failed: {exc}")
        return
    if scan.bad or scan.torn_tail:
        report.problems.append(
            f"fallback journal: {len(scan.bad)} unreadable line(s) and "
            f"{len(scan.torn_tail)} torn byte(s) moved to quarantine"
        )


def _heal_schema(runtime: Runtime, report: StartupReport) -> None:
    try:
        result = auto_heal(runtime.engine)
    except Exception as exc:  # the service must still start and say what is wrong
        if _unreachable(exc):  # an outage, not a bug: one line, no traceback
            log.warning("start-up schema repair skipped: %s", one_line(exc))
        else:
            log.exception("start-up schema repair failed")
        report.problems.append(f"schema repair failed: {one_line(exc)}")
        return
    report.schema_changes = [str(change) for change in getattr(result, "applied", [])]
    for change in report.schema_changes:
        log.warning("start-up schema repair: %s", change)


def _unreachable(exc: BaseException | None) -> bool:
    """The database could not be reached (the error itself, or what it was raised from)."""
    while exc is not None:
        if is_transient(exc):
            return True
        exc = exc.__cause__
    return False


def _make_data_dir(runtime: Runtime, report: StartupReport) -> None:
    """Create the data directory (and missing parents) when it does not exist yet."""
    path = runtime.settings.data_dir
    if path.is_dir():
        return
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # the health checks say so; the service still starts
        report.problems.append(f"cannot create the data directory {path}: {exc}")
        return
    log.info("start-up: created the data directory %s", path.resolve())
