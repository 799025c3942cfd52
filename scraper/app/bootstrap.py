"""Start-up of `scraper serve` and `scraper worker`: heal the schema, reconcile the fallback."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from scraper.db import is_transient
from scraper.errors import DatabaseNeverAnswered, ScraperError, one_line
from scraper.migrations.manage import auto_heal
from scraper.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass
class StartupReport:
    schema_changes: list[str] = field(default_factory=list)
    reconciled: int = 0
    problems: list[str] = field(default_factory=list)


FIRST_DELAY, MAX_DELAY = 0.5, 5.0  # seconds between two start-up tries: doubling, capped


def wait_for_database(
    runtime: Runtime,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Connect until the database answers, trying again with bounded backoff; the tries made.

    A server still starting (refused, reset, "starting up") is waited for up to
    `db_startup_wait` seconds, one log line per failed try; anything else (a wrong password,
    no such database) is raised at once. Raises DatabaseNeverAnswered when the time is up: the
    CLI exits with status 2, so a supervisor restarts the service rather than it serving
    without its database. SQLite, a file, has no server to wait for (0 tries).
    """
    if runtime.engine.dialect.name == "sqlite":
        return 0
    budget = runtime.settings.db_startup_wait
    url = runtime.engine.url.render_as_string(hide_password=True)
    started, delay, attempt = clock(), FIRST_DELAY, 0
    while True:
        attempt += 1
        try:
            with runtime.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            waited = clock() - started
            if not _unreachable(exc):
                raise  # the server answered and refused: waiting will not change it
            if waited + delay > budget:
                raise DatabaseNeverAnswered(url, attempt, budget, one_line(exc)) from exc
            log.warning(
                "start-up: database %s not reachable (attempt %d, %.1f s of %.0f s): %s; "
                "trying again in %.1f s",
                url,
                attempt,
                waited,
                budget,
                one_line(exc),
                delay,
            )
            sleep(delay)
            delay = min(delay * 2, MAX_DELAY)
            continue
        if attempt > 1:
            log.info("start-up: database %s answered after %d attempts", url, attempt)
        return attempt


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
