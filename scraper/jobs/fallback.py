"""Jobs the database refused: held in memory and journaled, fsynced, to a JSONL file.

The journal is the durable half: a restart replays it, and `ops reconcile` in another process
reads it too. Each line is one event: `put` (the job's latest state) or `gone` (reconciled
into the database). Compaction rewrites the file with only the live jobs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scraper.jobs.record import JobRecord

try:  # POSIX: serialise journal writers across processes.
    import fcntl
except ImportError:  # pragma: no cover - Windows keeps the in-process lock only
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)


@contextlib.contextmanager
def _file_lock(path: Path, exclusive: bool) -> Iterator[None]:
    """Lock a sidecar file: the journal itself is replaced on compaction, a lock file is not."""
    if fcntl is None:
        yield
        return
    if not exclusive:
        with _shared(path):
            yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def _shared(path: Path) -> Iterator[None]:
    """A reader's lock that creates nothing: no lock file means no writer ever wrote."""
    try:
        handle = open(path)  # noqa: SIM115 - held across the yield
    except FileNotFoundError:
        yield
        return
    with handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class FallbackStore:
    """In-memory jobs mirrored to `fallback-jobs.jsonl`; safe across threads and processes."""

    def __init__(self, journal: Path) -> None:
        self.journal = Path(journal)
        self._jobs: dict[str, JobRecord] = {}
        self._lock = threading.RLock()
        self._seen: tuple[int, int] | None = None
        self._lockfile = self.journal.with_name(self.journal.name + ".lock")
        self.refresh()

    # -- writes ------------------------------------------------------------------------------

    def put(self, record: JobRecord, reason: str | None = None) -> JobRecord:
        """Hold (or update) a job; durable once this returns."""
        record.storage = "fallback"
        event: dict[str, Any] = {"op": "put", "job": record.to_json(), "at": _now()}
        if reason:
            event["reason"] = reason
        with self._lock, _file_lock(self._lockfile, True):
            self._reload_if_changed()
            self._append(event)
            self._jobs[record.id] = record
        return record

    def discard(self, job_id: str) -> None:
        """Forget a job that now lives in the database."""
        with self._lock, _file_lock(self._lockfile, True):
            self._reload_if_changed()
            self._append({"op": "gone", "id": job_id, "at": _now()})
            self._jobs.pop(job_id, None)
            if not self._jobs:
                self._compact()

    # -- reads -------------------------------------------------------------------------------

    def get(self, job_id: str) -> JobRecord | None:
        self.refresh()
        with self._lock:
            return self._jobs.get(job_id)

    def jobs(self) -> list[JobRecord]:
        """Every held job, oldest first."""
        self.refresh()
        with self._lock:
            return sorted(self._jobs.values(), key=lambda r: (r.created_at or _epoch(), r.id))

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
            with _file_lock(self._lockfile, False):
                self._reload_if_changed()

    def _reload_if_changed(self) -> None:
        stamp = self._stamp()
        if stamp == self._seen:
            return
        jobs: dict[str, JobRecord] = {}
        if stamp is not None:
            with open(self.journal, encoding="utf-8") as handle:
                for number, line in enumerate(handle, 1):
                    self._replay(jobs, line, number)
        self._jobs = jobs
        self._seen = stamp

    def _replay(self, jobs: dict[str, JobRecord], line: str, number: int) -> None:
        if not line.strip():
            return
        try:
            event = json.loads(line)
            if event["op"] == "put":
                record = JobRecord.from_json(event["job"])
                record.storage = "fallback"
                jobs[record.id] = record
            elif event["op"] == "gone":
                jobs.pop(event["id"], None)
        except (ValueError, KeyError, TypeError):
            # A torn last line from a crash mid-write: everything before it still counts.
            log.warning("skipping unreadable line %d of %s", number, self.journal)

    def _append(self, event: dict[str, Any]) -> None:
        self.journal.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(event, sort_keys=True) + "\n"
        with open(self.journal, "a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
        self._seen = self._stamp()

    def _compact(self) -> None:
        """Rewrite the journal with only the live jobs (an empty file when none)."""
        tmp = self.journal.with_suffix(".jsonl.tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            for record in self._jobs.values():
                event = {"op": "put", "job": record.to_json(), "at": _now()}
                handle.write(json.dumps(event, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.journal)
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
