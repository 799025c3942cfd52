"""Delete a finished job, or prune every finished job older than a cut-off, with its asset
rows and every stored file no remaining asset references.

Files are content-addressed and shared between jobs, so a file is deleted only after the
rows are gone *and committed*, and only when no asset (of any job) still names its key.
Pruning runs in small batches, one short transaction each, so job writes never wait long.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    and_,
    delete,
    distinct,
    exists,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.orm import Session, aliased, sessionmaker

from scraper import rollup
from scraper.errors import JobNotFound, JobStateError
from scraper.jobs.reads.keyset import Position, past
from scraper.jobs.service import JOB_ID_LENGTH
from scraper.models import FINAL_STATUSES, Asset, JobAttempt, ScrapeJob, utcnow
from scraper.periodic import Periodic
from scraper.storage import Storage, StorageError

log = logging.getLogger(__name__)

BATCH = 500  # measured: 923 jobs/s at 200, 2,244 at 500 (docs/benchmarks.md)
_LOOKUP_CHUNK = 200  # pairs per lookup (SQLite allows 500 terms in a compound SELECT)
# Deleted through the tables (Core): no ORM bookkeeping per statement.
_ASSETS: Table = Asset.__table__  # type: ignore[assignment]
_ATTEMPTS: Table = JobAttempt.__table__  # type: ignore[assignment]
_JOBS: Table = ScrapeJob.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class Removed:
    """What a delete or a prune removed (or, dry, would remove)."""

    jobs: int = 0
    assets: int = 0
    files: int = 0

    def __add__(self, other: Removed) -> Removed:
        return Removed(self.jobs + other.jobs, self.assets + other.assets, self.files + other.files)

    def to_json(self) -> dict[str, int]:
        return {"jobs": self.jobs, "assets": self.assets, "files": self.files}


def delete_job(
    session_factory: sessionmaker[Session],
    files: Storage,
    job_id: str,
    user_id: int | None = None,
) -> Removed:
    """Delete a finished job, its asset rows and its files no other asset references.

    JobNotFound if absent or (with `user_id`) not that user's; JobStateError for a pending or
    running job (cancel it first). A database error propagates: the job may well exist.
    """
    if len(job_id) > JOB_ID_LENGTH or not job_id.isprintable():
        raise JobNotFound(job_id)
    with session_factory() as s, s.begin():
        job = s.execute(_locked().where(ScrapeJob.id == job_id)).first()
        if job is None or (user_id is not None and job.user_id != user_id):
            raise JobNotFound(job_id)
        if job.status not in FINAL_STATUSES:
            raise JobStateError(job_id, f"job {job_id} is {job.status}; cancel it first")
        keys, assets = _delete_rows(s, [job])
    return Removed(1, assets, remove_unreferenced(session_factory, files, keys))


def _locked() -> Select[Any]:
    """Jobs' ids and the columns their rollup counters depend on, locked: read once, they
    are what the delete removes (a finished job changes only under its row lock)."""
    return select(ScrapeJob.id, *rollup.STATE).with_for_update()


def _delete_rows(s: Session, jobs: Sequence[Any]) -> tuple[set[tuple[str, str]], int]:
    """Delete the locked jobs' rows (assets, attempts, jobs) and take them out of the rollup;
    the (sha256, key) of their files. The assets' delete returns what the rollup and the file
    lookup need, so no row is read twice (re-reading a batch's assets for the rollup took
    0.07-0.33 s of each 500-job batch at 200k-1 M jobs)."""
    ids = [job.id for job in jobs]
    owner = {job.id: job.user_id for job in jobs}
    c = _ASSETS.c
    returned = (c.job_id, c.sha256, c.path, c.created_at, c.size_bytes)
    gone = s.execute(delete(_ASSETS).where(c.job_id.in_(ids)).returning(*returned)).all()
    s.execute(delete(_ATTEMPTS).where(_ATTEMPTS.c.job_id.in_(ids)))
    s.execute(delete(_JOBS).where(_JOBS.c.id.in_(ids)))
    rollup.subtract(s, jobs, [(owner[a.job_id], a.created_at, a.size_bytes) for a in gone])
    return {(str(a.sha256), str(a.path)) for a in gone}, len(gone)


def remove_unreferenced(
    session_factory: sessionmaker[Session], files: Storage, keys: Iterable[tuple[str, str]]
) -> int:
    """Delete each stored file whose key no asset names any more; how many were deleted.

    Call it only after the deleting transaction committed: a file is judged by what the
    database holds now, and the lookup goes through the sha256 index.
    """
    wanted = sorted(set(keys))
    removed = 0
    for start in range(0, len(wanted), _LOOKUP_CHUNK):
        chunk = wanted[start : start + _LOOKUP_CHUNK]
        with session_factory() as s:
            still = _still_named(s, chunk)
        gone = [(sha, key) for sha, key in chunk if (sha, key) not in still]
        removed += sum(_discard(session_factory, files, sha, key) for sha, key in gone)
    return removed


def _still_named(s: Session, chunk: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """The (sha256, key) pairs some asset still names, in one statement.

    One EXISTS per pair, each stopping at its first row through the sha256 index: a file that
    a million assets share costs one row read, not a million (reading every row of the shas
    made a prune of 1 M jobs sharing a few files 20 times slower than one of 20k).
    """
    probes = [
        select(literal(sha).label("sha256"), literal(key).label("path")).where(
            exists().where(Asset.sha256 == sha, Asset.path == key)
        )
        for sha, key in chunk
    ]
    query = probes[0] if len(probes) == 1 else union_all(*probes)
    return {(str(sha), str(key)) for sha, key in s.execute(query)}


def _discard(session_factory: sessionmaker[Session], files: Storage, sha: str, key: str) -> bool:
    """Delete the file unless, by the time it is moved aside, an asset references it."""

    def referenced() -> bool:
        named = select(Asset.id).where(Asset.sha256 == sha, Asset.path == key).limit(1)
        with session_factory() as s:
            return s.scalar(named) is not None

    try:
        return files.discard(key, referenced)
    except StorageError as exc:  # the rows are gone already: report the file, go on
        log.warning("could not delete stored file %s: %s", key, exc)
        return False


# -- pruning -----------------------------------------------------------------------------------


def prunable(cutoff: datetime) -> ColumnElement[bool]:
    """Finished jobs that finished before `cutoff` (created_at first: it has the index)."""
    finished = func.coalesce(ScrapeJob.finished_at, ScrapeJob.updated_at)
    return and_(
        ScrapeJob.status.in_([s.value for s in FINAL_STATUSES]),
        ScrapeJob.created_at < cutoff,
        finished < cutoff,
    )


def prune(
    session_factory: sessionmaker[Session],
    files: Storage,
    older_than: timedelta,
    dry_run: bool = False,
    batch: int = BATCH,
    now: datetime | None = None,
    progress: Callable[[Removed], None] | None = None,
    stop: threading.Event | None = None,
) -> Removed:
    """Delete finished jobs older than `older_than`, batch by batch; `dry_run` only counts.

    Each batch locks, deletes and commits its jobs' rows in one short transaction, then
    deletes the files no asset references any more. `stop`, once set, ends it between batches.
    """
    cutoff = (now or utcnow()) - older_than
    if dry_run:
        return count_prunable(session_factory, cutoff)
    total, after = Removed(), None
    while stop is None or not stop.is_set():
        done, after = _prune_batch(session_factory, files, cutoff, batch, after)
        if not done.jobs:
            return total
        total += done
        if progress is not None:
            progress(total)
    return total


def _prune_batch(
    session_factory: sessionmaker[Session],
    files: Storage,
    cutoff: datetime,
    batch: int,
    after: Position | None,
) -> tuple[Removed, Position | None]:
    """One batch, picked past the last one's (created_at, id): an index seek, not a walk
    through the entries of rows earlier batches deleted (not yet vacuumed). A job skipped
    (locked, or not yet finished) is left for the next prune. The batch and its end."""
    with session_factory() as s, s.begin():
        pick = _locked().where(prunable(cutoff))
        if after is not None:
            pick = pick.where(*past(s, after, newest_first=False))
        pick = pick.order_by(ScrapeJob.created_at, ScrapeJob.id).limit(batch)
        jobs = s.execute(pick.with_for_update(skip_locked=_skips(s))).all()
        if not jobs:
            return Removed(), after
        keys, assets = _delete_rows(s, jobs)
    end = Position("created_at", created_at=jobs[-1].created_at, id=jobs[-1].id)
    return Removed(len(jobs), assets, remove_unreferenced(session_factory, files, keys)), end


def _skips(s: Session) -> bool:
    """SKIP LOCKED where the dialect has it: a job a worker holds is left for the next run."""
    return s.get_bind().dialect.name in ("postgresql", "mysql")


def count_prunable(session_factory: sessionmaker[Session], cutoff: datetime) -> Removed:
    """How many jobs, asset rows and stored files a prune at `cutoff` would remove."""
    doomed = select(ScrapeJob.id).where(prunable(cutoff))
    other = aliased(Asset)
    shared = exists().where(
        other.sha256 == Asset.sha256,
        other.path == Asset.path,
        other.job_id.not_in(doomed),
    )
    with session_factory() as s:
        jobs = s.scalar(select(func.count()).select_from(doomed.subquery())) or 0
        in_doomed = Asset.job_id.in_(doomed)
        assets = s.scalar(select(func.count()).select_from(Asset).where(in_doomed)) or 0
        files = s.scalar(select(func.count(distinct(Asset.path))).where(in_doomed, ~shared)) or 0
    return Removed(int(jobs), int(assets), int(files))


class Pruner(Periodic):
    """Background thread: prune finished jobs older than `days` every `interval` seconds.

    Several processes may run one each: a batch skips jobs another process has locked.
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        files: Storage,
        days: int,
        interval: float = 3600.0,
        first: float = 60.0,
    ) -> None:
        super().__init__("pruner", interval, self.tick, first)
        self.session_factory, self.files, self.days = session_factory, files, days

    def tick(self) -> Removed:
        """One pass; logs what it removed."""
        removed = prune(
            self.session_factory, self.files, timedelta(days=self.days), stop=self._stop
        )
        if removed.jobs:
            log.info(
                "pruned %d job(s) older than %d days: %d asset row(s), %d file(s)",
                removed.jobs, self.days, removed.assets, removed.files,
            )  # fmt: skip
        return removed


def retention_pruner(
    session_factory: sessionmaker[Session], files: Storage, days: int | None
) -> Pruner | None:
    """The pruner SCRAPER_RETENTION_DAYS asks for; None when unset (keep every job)."""
    return None if days is None else Pruner(session_factory, files, days)
