"""Jobs the database refused: held in memory and journaled, fsynced, to a JSONL file.

The journal is the durable half: a restart replays it, and `ops reconcile` in another process
reads it too. Each line is one checksummed event (see `journal`): `put` (the job's latest
state), `gone` (reconciled into the database) or `refused` (the database refused its values
again, and how many times in a row for the same reason). A job refused `quarantine_after`
times for the same reason is quarantined: listed and counted, but no longer retried
automatically nor failing readiness.
Compaction rewrites the file with only the live jobs.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ops.schema.flock import flock
from scraper.jobs import journal
from scraper.jobs.record import JobRecord

log = logging.getLogger(__name__)

QUARANTINE_AFTER = 3


class FallbackStore:
    """In-memory jobs mirrored to `fallback-jobs.jsonl`; safe across threads and processes."""

    def __init__(self, journal_path: Path, quarantine_after: int = QUARANTINE_AFTER) -> None:
        self.journal = Path(journal_path)
        self.quarantine_after = quarantine_after
        self._jobs: dict[str, JobRecord] = {}
        self._refusals: dict[str, tuple[str, int]] = {}
        self._bad: list[bytes] = []
        self._lock = threading.RLock()
        self._seen: tuple[int, int] | None = None
        self._lockfile = self.journal.with_name(self.journal.name + ".lock")
        self.refresh()

    # -- writes ------------------------------------------------------------------------------

    def put(self, record: JobRecord, reason: str | None = None) -> JobRecord:
        """Hold (or update) a job; durable once this returns (JournalUnavailable if not)."""
        record.storage = "fallback"
        event: dict[str, Any] = {"op": "put", "job": record.to_json(), "at": _now()}
        if reason:
            event["reason"] = reason
        with self._write():
            self._append(event)
            self._jobs[record.id] = record
        return record

    def discard(self, job_id: str) -> None:
        """Forget a job that now lives in the database."""
        with self._write():
            self._append({"op": "gone", "id": job_id, "at": _now()})
            self._jobs.pop(job_id, None)
            self._refusals.pop(job_id, None)
            if not self.waiting_ids():
                self._compact()

    def refused(self, job_id: str, reason: str) -> bool:
        """Count one more refusal of a held job; True once it is (now) quarantined."""
        with self._write():
            last, count = self._refusals.get(job_id, (reason, 0))
            count = count + 1 if last == reason else 1
            self._append({"op": "refused", "id": job_id, "reason": reason, "count": count})
            self._apply_refusal(job_id, reason, count)
        return count >= self.quarantine_after

    def repair(self) -> journal.Scan:
        """Start-up: cut a torn tail and move unreadable lines to the quarantine file."""
        with self._lock, flock(self._lockfile, exclusive=True):
            result = journal.repair(self.journal)
            self._seen = None
            self._reload_if_changed()
        return result

    @contextlib.contextmanager
    def _write(self) -> Iterator[None]:
        with self._lock, flock(self._lockfile, exclusive=True):
            self._reload_if_changed()
            yield

    # -- reads -------------------------------------------------------------------------------

    def get(self, job_id: str) -> JobRecord | None:
        self.refresh()
        with self._lock:
            return self._jobs.get(job_id)

    def jobs(self) -> list[JobRecord]:
        """Every held job (quarantined ones included), oldest first."""
        self.refresh()
        with self._lock:
            return sorted(self._jobs.values(), key=lambda r: (r.created_at or _epoch(), r.id))

    def waiting(self) -> list[JobRecord]:
        """Held jobs that reconciliation should still try, oldest first."""
        return [r for r in self.jobs() if r.quarantined is None]

    def quarantined(self) -> list[JobRecord]:
        """Held jobs the database refused for the same reason too many times."""
        return [r for r in self.jobs() if r.quarantined is not None]

    def waiting_ids(self) -> list[str]:
        return [job_id for job_id, r in self._jobs.items() if r.quarantined is None]

    def count_by_status(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for record in self.jobs():
            counts[record.status] = counts.get(record.status, 0) + 1
        return counts

    def __len__(self) -> int:
        return len(self.jobs())

    # -- the journal -------------------------------------------------------------------------

    def refresh(self) -> None:
        """Replay the journal if another process (or a restart) changed it."""
        with self._lock:
            if self._stamp() == self._seen:
                return
            with flock(self._lockfile, exclusive=False):
                self._reload_if_changed()

    def _reload_if_changed(self) -> None:
        stamp = self._stamp()
        if stamp == self._seen:
            return
        result = journal.scan(self.journal)
        self._jobs, self._refusals = {}, {}
        for event in result.events:
            self._replay(event)
        for number, line in result.bad:
            log.warning("skipping unreadable line %d of %s: %r", number, self.journal, line[:80])
        self._bad = [line for _, line in result.bad] + [result.torn_tail] * bool(result.torn_tail)
        self._seen = stamp

    def _replay(self, event: dict[str, Any]) -> None:
        try:
            if event["op"] == "put":
                record = JobRecord.from_json(event["job"])
                record.storage = "fallback"
                record.quarantined = None
                self._jobs[record.id] = record
                refusal = self._refusals.get(record.id)
                if refusal is not None:
                    self._apply_refusal(record.id, *refusal)
            elif event["op"] == "gone":
                self._jobs.pop(event["id"], None)
                self._refusals.pop(event["id"], None)
            elif event["op"] == "refused":
                self._apply_refusal(event["id"], event["reason"], int(event["count"]))
        except (ValueError, KeyError, TypeError):
            log.warning("skipping a malformed event in %s: %r", self.journal, event)

    def _apply_refusal(self, job_id: str, reason: str, count: int) -> None:
        self._refusals[job_id] = (reason, count)
        record = self._jobs.get(job_id)
        if record is not None:
            record.quarantined = reason if count >= self.quarantine_after else None

    def _append(self, event: dict[str, Any]) -> None:
        journal.append(self.journal, event)
        self._seen = self._stamp()

    def _compact(self) -> None:
        """Rewrite the journal with only the live jobs; unreadable lines go to quarantine."""
        journal.quarantine(self.journal, self._bad, "unreadable line (compaction)")
        events: list[dict[str, Any]] = []
        for record in self._jobs.values():
            events.append({"op": "put", "job": record.to_json(), "at": _now()})
            if record.id in self._refusals:
                reason, count = self._refusals[record.id]
                events.append({"op": "refused", "id": record.id, "reason": reason, "count": count})
        journal.rewrite(self.journal, events)
        self._bad = []
        self._seen = self._stamp()

    def _stamp(self) -> tuple[int, int] | None:
        try:
            st = self.journal.stat()
        except FileNotFoundError:
            return None
        return (st.st_size, st.st_mtime_ns)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _epoch() -> datetime:
    return datetime.min.replace(tzinfo=UTC)
