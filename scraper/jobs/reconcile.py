"""Move fallback jobs into the database, exactly once each."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy.exc import DataError, SQLAlchemyError

from scraper.db import is_transient
from scraper.errors import one_line
from scraper.jobs.fallback import FallbackStore
from scraper.jobs.store import JobStore
from scraper.logs import log_context
from scraper.periodic import Periodic

log = logging.getLogger(__name__)


@dataclass
class ReconcileResult:
    """What one pass did: jobs moved, jobs the database already had, jobs still refused."""

    moved: list[str] = field(default_factory=list)
    already_present: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    quarantined: dict[str, str] = field(default_factory=dict)

    @property
    def remaining(self) -> int:
        return len(self.failed)


def reconcile(
    store: JobStore, fallback: FallbackStore, include_quarantined: bool = False
) -> ReconcileResult:
    """Insert each held job unless its id is in the database, then drop it from the fallback.

    Insert-if-absent by primary key makes a second pass (or a crash between the insert and the
    journal write) harmless: the job is found, not duplicated. Quarantined jobs are tried only
    when asked (`ops reconcile`), never by the automatic passes.
    """
    result = ReconcileResult()
    for record in fallback.jobs() if include_quarantined else fallback.waiting():
        try:
            inserted = store.insert_if_absent(record)
        except SQLAlchemyError as exc:
            _refused(fallback, record.id, exc, result)
            continue
        fallback.discard(record.id)
        (result.moved if inserted else result.already_present).append(record.id)
        with log_context(job_id=record.id):
            log.info("reconcile: job %s moved into the database", record.id)
    return result


def refuses_the_value(exc: SQLAlchemyError) -> bool:
    """True when the database refuses the job's values themselves (SQLSTATE class 22: a NUL,
    an invalid byte sequence, a value too long or out of range), which no repair changes."""
    return isinstance(exc, DataError)


def _refused(
    fallback: FallbackStore, job_id: str, exc: SQLAlchemyError, result: ReconcileResult
) -> None:
    """Note the refusal; a job whose values are refused the same way again and again is set
    aside (a schema refusal is not counted: the schema can be repaired)."""
    reason = one_line(exc)
    result.failed[job_id] = reason
    extra = {"job_id": job_id}
    if is_transient(exc):  # the database is away, not refusing: nothing to count
        log.warning("reconcile: database unreachable for job %s: %s", job_id, reason, extra=extra)
        return
    if not refuses_the_value(exc):  # a drifted schema: `ops migrate` heals it, keep trying
        log.warning("reconcile: database still refuses job %s: %s", job_id, reason, extra=extra)
        return
    if fallback.refused(job_id, reason):
        result.quarantined[job_id] = reason
        log.error(
            "reconcile: job %s quarantined: the database refused it %d times: %s",
            job_id,
            fallback.quarantine_after,
            reason,
            extra=extra,
        )
        return
    log.warning("reconcile: database still refuses job %s: %s", job_id, reason, extra=extra)


class Reconciler:
    """Background thread: reconcile every `interval` seconds while there is anything to move."""

    def __init__(self, store: JobStore, fallback: FallbackStore, interval: float = 30.0) -> None:
        self.store = store
        self.fallback = fallback
        self._thread = Periodic("reconciler", interval, self.tick)

    def start(self) -> None:
        """Start reconciling in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the background thread."""
        self._thread.stop()

    def tick(self) -> None:
        """One pass: move what the fallback holds, if anything."""
        if self.fallback.waiting():
            reconcile(self.store, self.fallback)
