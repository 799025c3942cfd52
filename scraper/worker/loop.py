"""The worker: claim a job under a lease, keep the lease alive, rescue jobs of dead workers.

Threads: `concurrency` job loops plus one housekeeper that renews the leases of held jobs,
records this worker in `worker_heartbeats` and requeues expired leases (a SIGKILLed peer).

While a job loop is free, the worker takes part in its host's election of one idle leader
(`scraper.worker.election`): only the leader's free loops claim (they poll and listen); a
follower's free loops wait for it to lead, and a follower with no job in hand holds no
connection: it connects to beat, rarely, and closes again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

from healthchecks.workers import fresh_within
from scraper.counters import JOB_DURATION, JOBS_FINISHED
from scraper.db import is_outage
from scraper.download import Downloader, DownloadPolicy
from scraper.errors import ScraperError, one_line
from scraper.jobs.record import JobRecord
from scraper.jobs.store import NextClaim, backoff_seconds
from scraper.logs import log_context
from scraper.models import JobStatus
from scraper.schedules import tick as fire_schedules
from scraper.storage import StorageUnavailable
from scraper.worker.backoff import FailureBackoff
from scraper.worker.election import Election
from scraper.worker.heartbeats import beat
from scraper.worker.run import ExecutionContext, JobLost, JobRun, ShuttingDown, StorageRefused
from scraper.worker.wakeup import Wakeup

if TYPE_CHECKING:
    from scraper.runtime import Runtime

log = logging.getLogger(__name__)

# The longest wait between two tries of a failing claim (or of the storage check before it).
CLAIM_RETRY_CAP = 3.0
# While files can be written, the store is probed at most this often before a claim.
STORAGE_CHECK_SECONDS = 5.0
# An idle follower beats this many times per heartbeat freshness window (`fresh_within`).
FOLLOWER_BEATS_PER_WINDOW = 4
# A follower stands in for a leader whose last poll is older than this many polls (seconds).
STAND_IN_POLLS = 10
STAND_IN_AFTER = 5.0
# Seconds a stopping follower waits for the host's connect slot to write its last beat
# (`stopped`); without the slot it leaves its row to go stale.
STOPPING_SLOT_WAIT = 5.0


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    """Runs jobs from the database; many may run against one database, each job runs once."""

    def __init__(
        self,
        runtime: Runtime,
        concurrency: int = 1,
        worker_id: str | None = None,
        downloader: Downloader | None = None,
    ) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.concurrency = max(1, concurrency)
        self.id = worker_id or default_worker_id()
        self._shared_downloader = downloader
        self._local = threading.local()  # a requests Session is not thread-safe: one per thread
        self.jobs_done = 0
        self._stop = threading.Event()
        self._held: dict[str, tuple[int, threading.Event]] = {}
        self._held_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        # A failing claim is tried again within CLAIM_RETRY_CAP: the loop resumes (and the
        # heartbeat clears "claims are failing") seconds after the cause is fixed.
        self.claims = FailureBackoff(
            "claims", log, base=self.settings.poll_interval, cap=CLAIM_RETRY_CAP
        )
        self.wakeup = Wakeup(runtime.engine)  # idle loops wake on a queued job (PostgreSQL)
        # Free loops claim only while this worker leads its host's idle workers.
        self.election = Election(self.settings.data_dir, self._lead, self._follow)
        self._busy_loops = 0  # job loops with a job in hand (or chained)
        # A leader that has not polled for this long is stopped or hung: a follower stands in.
        self._stale_after = max(STAND_IN_AFTER, STAND_IN_POLLS * self.settings.poll_interval)
        self._busy_lock = threading.Lock()
        self._storage_ok_until = float("-inf")
        # Claims and housekeeping take turns: an idle worker's statements never overlap, so
        # it needs one connection (`Runtime.kept_connections`); a job's own writes do not wait.
        self._turn = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the job loops and the housekeeper in background threads."""
        with contextlib.suppress(OSError):  # else the storage check says why, before each claim
            self.runtime.files.data_dir.mkdir(parents=True, exist_ok=True)
        self._sweep()
        self.wakeup.start()
        self.election.start()
        self.election.want(True)  # every loop is free
        targets = [self._housekeeping] + [self._job_loop] * self.concurrency
        for n, target in enumerate(targets):
            thread = threading.Thread(target=target, name=f"worker-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)
        with log_context(worker=self.id):
            log.info("worker %s started with %d job threads", self.id, self.concurrency)

    def _sweep(self) -> None:
        """Remove what dead workers left in the store: partial files and expired claims."""
        files = self.runtime.files
        swept = files.sweep_partials()
        if swept:
            log.info("removed %d partial files left by dead workers", swept)
        try:
            claims = files.sweep_claims()
        except StorageUnavailable as exc:  # the storage check says why, before each claim
            log.warning("expired claims not swept: %s", exc)
            return
        if claims:
            log.info("removed %d expired claims on stored files", claims)

    def request_stop(self) -> None:
        """Stop claiming and release the jobs in hand, without waiting (safe in a signal
        handler); `stop` waits for the threads."""
        self._stop.set()
        self.election.close()  # another worker of this host leads now
        self.wakeup.ring()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop claiming; jobs in hand are released at once, their downloads cancelled (SIGTERM)."""
        self.request_stop()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self.wakeup.close()
        if self._quiet():  # its last beat takes its turn with the host's other followers
            self._follower_beat("stopped", STOPPING_SLOT_WAIT)
        else:
            self._safe_beat("stopped")
        with log_context(worker=self.id):
            log.info("worker %s stopped", self.id)

    def run(self) -> None:
        """Block until stopped (signal handlers call `request_stop`)."""
        self.start()
        while not self._stop.wait(0.5):
            pass

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # -- jobs --------------------------------------------------------------------------------

    def run_once(self) -> bool:
        """Run one job: the one the last completing write claimed (job loops chain their
        claims), else one claimed now; False if there was none to claim."""
        job = self._take_chained()
        if job is None:
            with self._turn:
                job = self.runtime.store.claim(self.id, self.settings.lease_seconds)
                if job is not None:
                    self._occupied(True)  # this loop's slot is taken: lead no longer for it
                if self.claims.succeeded():  # claims work again: say so now, not at the next beat
                    self._safe_beat("running")
        if job is None:
            return False
        with log_context(job_id=job.id, worker=self.id):
            self._process(job)
        return True

    def _job_loop(self) -> None:
        self._local.chain = True  # this thread's completing writes claim its next job
        try:
            self._loop_jobs()
        finally:
            self._release_chained()

    def _loop_jobs(self) -> None:
        while not self._stop.is_set():
            if not self._has_chained():
                self._occupied(False)  # free: lead (and claim now), or wait behind the leader
            rung = self.wakeup.generation  # a job queued while claiming is not missed
            if not self._has_chained():
                self.election.alive()
                if not self.election.leading and not self.election.stands_in(self._stale_after):
                    self._let_go()
                    self.wakeup.wait(rung, self.settings.poll_interval)  # rung on leading
                    continue
            # A chained job was claimed right after a storage check: run it before its lease
            # (not renewed until it runs) could lapse in a backoff.
            problem = None if self._has_chained() else self._storage_problem()
            if problem is not None:  # no claim while nothing could be stored: back off
                self._stop.wait(self.claims.failed(problem))
                continue
            try:
                worked = self.run_once()
            except SQLAlchemyError as exc:
                # Back off and log once a minute: a drifted schema fails every poll.
                self._stop.wait(self.claims.failed(one_line(exc)))
                continue
            if not worked:  # until a job is queued (LISTEN/NOTIFY), or the next poll
                self.wakeup.wait(rung, self.settings.poll_interval)

    # -- the election: the host's one idle leader claims and polls -------------------------

    def _occupied(self, busy: bool) -> None:
        """Mark this job loop busy or free; the worker wants to lead while a loop is free."""
        if not getattr(self._local, "chain", False) or getattr(self._local, "busy", False) == busy:
            return  # not a job loop (a bare `run_once`), or no change
        self._local.busy = busy
        with self._busy_lock:
            self._busy_loops += 1 if busy else -1
            self.election.want(self._busy_loops < self.concurrency)

    def _lead(self) -> None:
        """Leading: listen from the next checkout on, and claim now (jobs may be waiting)."""
        self.wakeup.listen(True)
        self.wakeup.ring()

    def _follow(self) -> None:
        """Following: listen to nothing, and hold no connection while no job is in hand."""
        self.wakeup.listen(False)
        self._let_go()

    def _let_go(self) -> None:
        """Close the pooled connections of an idle follower (a busy one keeps them warm)."""
        if self._quiet():
            self.runtime.close_idle_connections()

    def _quiet(self) -> bool:
        """An idle follower: no job in hand, neither leading nor standing in for the leader;
        it only beats now and then."""
        election = self.election
        if election.leading or election.standing_in:
            return False
        return not self._held and not self._busy_loops

    # -- chained claims: a busy job loop claims its next job in the completing transaction --

    def _next_claim(self) -> NextClaim | None:
        """The claim a completing write makes for this thread's loop, or None: not a job
        loop (a bare `run_once`), stopping, or nothing could be stored now."""
        if not getattr(self._local, "chain", False) or self._stop.is_set():
            return None
        if self._storage_problem() is not None:
            return None
        return NextClaim(self.id, self.settings.lease_seconds)

    def _has_chained(self) -> bool:
        return getattr(self._local, "chained", None) is not None

    def _take_chained(self) -> JobRecord | None:
        job: JobRecord | None = getattr(self._local, "chained", None)
        self._local.chained = None
        return job

    def _release_chained(self) -> None:
        """Give back a job claimed for a run that will not come (the loop stops)."""
        job = self._take_chained()
        if job is None:
            return
        try:
            if self.runtime.store.release(job.id, self.id, job.lease_token):
                log.info("job %s released at shutdown", job.id)
        except SQLAlchemyError as exc:  # its lease runs out and a live worker requeues it
            log.warning("job %s not released: %s", job.id, one_line(exc))

    def _storage_problem(self) -> str | None:
        """Why files cannot be stored now (a full disk, the object store down), or None.

        A success is trusted for STORAGE_CHECK_SECONDS; a failure is checked again after the
        claims' backoff, so the loop resumes by itself once the store is back.
        """
        if time.monotonic() < self._storage_ok_until:
            return None
        try:
            self.runtime.files.check_writable()
        except OSError as exc:
            return f"storage not writable: {one_line(exc)}"
        self._storage_ok_until = time.monotonic() + STORAGE_CHECK_SECONDS
        return None

    def _process(self, job: JobRecord) -> None:
        lost = threading.Event()
        with self._held_lock:
            self._held[job.id] = (job.lease_token, lost)
        log.info("job %s claimed by %s (attempt %d)", job.id, self.id, job.attempts)
        started = time.monotonic()
        try:
            self._finish(job, lost)
        finally:
            with self._held_lock:
                self._held.pop(job.id, None)
            JOB_DURATION.observe(time.monotonic() - started)

    def _finish(self, job: JobRecord, lost: threading.Event) -> None:
        store = self.runtime.store
        run = JobRun(job, self._context(lost))
        try:
            message = run.execute()
        except (ShuttingDown, JobLost) as exc:
            if not lost.is_set() and store.release(job.id, self.id, job.lease_token):
                log.info("job %s released at shutdown", job.id)
            else:
                log.warning("job %s no longer ours: %s", job.id, exc)
            return
        except SQLAlchemyError as exc:
            if not is_outage(exc):
                self._failed(job, exc)
                return
            # The database went away for longer than a write waits: not the job's fault.
            outage = f"requeued: the database was unreachable during the run ({one_line(exc)})"
            log.warning("job %s: %s; handing it back once the database answers", job.id, outage)
            release = partial(store.release, job.id, self.id, job.lease_token, outage)
            if self._when_written(release, job.id):
                log.info("job %s requeued with its stored files after a database outage", job.id)
            return
        except StorageRefused as exc:
            if job.attempts >= self.settings.max_attempts:
                self._failed(job, exc)
                return
            delay = backoff_seconds(job.attempts)
            waiting = f"waiting {delay:.0f} s for the storage (attempt {job.attempts}): {exc}"
            log.warning("job %s requeued: %s", job.id, waiting)
            self._when_written(
                partial(store.defer, job.id, self.id, job.lease_token, waiting, delay), job.id
            )
            return
        except Exception as exc:
            self._failed(job, exc)
            return
        then = self._next_claim()
        try:
            completed = self._when_written(run.completion(message, then), job.id)
        except JobLost as exc:  # its last files were refused while sorted out one by one
            log.warning("job %s no longer ours: %s", job.id, exc)
            return
        finally:
            if then is not None:
                self._local.chained = then.job
        if completed:
            JOBS_FINISHED.labels(status=JobStatus.COMPLETED.value).inc()
            self.jobs_done += 1
            log.info("job %s completed: %s", job.id, message)

    def _failed(self, job: JobRecord, exc: Exception) -> None:
        # One line for a job's own failure (nothing stored, a download refused, the database
        # refusing a write); the traceback only for what no one raised on purpose (a bug).
        expected = isinstance(exc, ScraperError | SQLAlchemyError | OSError)
        log.error("job %s failed: %s", job.id, one_line(exc, kind=True), exc_info=not expected)
        if expected:
            log.debug("job %s failed; the traceback:", job.id, exc_info=True)
        error = f"{type(exc).__name__}: {exc}"[:4000]
        if self._when_written(
            partial(self.runtime.store.fail, job.id, self.id, error, job.lease_token), job.id
        ):
            JOBS_FINISHED.labels(status=JobStatus.FAILED.value).inc()

    def _when_written(self, write: Callable[[], bool], job_id: str) -> bool:
        """Run a job's final write, again and again while the database is unreachable (each
        try already waits RECONNECT_BUDGET): the result is kept until the database returns.

        False if the write was refused (the job is no longer ours) or the worker stops first;
        then the job's lease runs out and a live worker requeues it with its stored files.
        """
        backoff = FailureBackoff("a job's final write", log, base=1.0)
        while True:
            try:
                written = write()
                if not written and not self._stop.is_set():
                    log.warning("job %s no longer ours: its final write was refused", job_id)
                return written
            except SQLAlchemyError as exc:
                if not is_outage(exc):
                    raise
                if self._stop.wait(backoff.failed(one_line(exc))):
                    return False

    def _context(self, lost: threading.Event) -> ExecutionContext:
        rt = self.runtime
        downloader = self._downloader()
        return ExecutionContext(
            store=rt.store,
            session_factory=rt.Session,
            files=rt.files,
            downloader=downloader,
            worker_id=self.id,
            should_stop=lambda: self._stop.is_set() or lost.is_set(),
            source_urls=self.settings.source_urls,
            concurrency=self.settings.job_concurrency,
            # The limiter its downloads obey, so the pool queues per host by the same limits
            # (a test's stand-in downloader has none: no per-host queueing).
            hosts=downloader.hosts if isinstance(downloader, Downloader) else None,
        )

    def _downloader(self) -> Downloader:
        if self._shared_downloader is not None:
            return self._shared_downloader
        if not hasattr(self._local, "downloader"):
            self._local.downloader = _default_downloader(self.runtime)
        downloader: Downloader = self._local.downloader
        return downloader

    # -- housekeeping ------------------------------------------------------------------------

    def _housekeeping(self) -> None:
        with log_context(worker=self.id):
            self._housekeep()

    def _housekeep(self) -> None:
        lease = self.settings.lease_seconds
        interval = max(0.2, min(5.0, lease / 3))
        follower_beat = max(interval, fresh_within(self.runtime) / FOLLOWER_BEATS_PER_WINDOW)
        last_rescue, last_beat, quiet_until = 0.0, time.monotonic(), 0.0
        beaten_at = float("-inf")  # the last beat the database took: none yet, beat now
        while True:
            now = time.monotonic()
            if not self._quiet():
                last_rescue, last_beat, quiet_until = self._keep_house(
                    last_rescue, last_beat, quiet_until
                )
                beaten_at = last_beat
            elif now - beaten_at < follower_beat:
                last_beat = now  # waiting on purpose, not an outage
            elif self._follower_beat("running", interval):  # its row alone, now and then
                last_beat = beaten_at = now
            self._let_go()
            if self._stop.wait(interval) and not self._held:
                return

    def _follower_beat(self, state: str, wait: float) -> bool:
        """Beat as an idle follower: connect in the host's slot, beat, and close again before
        letting go of the slot; False when the database did not take it, or when the slot
        stayed busy `wait` seconds (the next round beats; at shutdown the row goes stale)."""
        with self.election.connect_slot(wait) as got, self._turn:
            if not got:
                log.debug("no beat: the host's followers were connecting for %.0f s", wait)
                return False
            beaten = self._safe_beat(state)
            self._let_go()
        return beaten

    def _keep_house(
        self, last_rescue: float, last_beat: float, quiet_until: float
    ) -> tuple[float, float, float]:
        """A leader's or a busy worker's round: renew leases, beat, fire schedules, rescue
        (an idle follower leaves all but its beat to its host's leader); the times it keeps."""
        lease = self.settings.lease_seconds
        with self._turn:
            self._renew_leases()
            beaten = self._safe_beat("running")
            now = time.monotonic()
            if not beaten or now - last_beat > lease:
                # An outage (or a beat that waited through one): the other workers could
                # not renew their leases either. Give them one lease to do so before
                # taking over jobs whose leases ran out meanwhile.
                quiet_until = now + lease
            last_beat = now if beaten else last_beat
            fire_schedules(self.runtime.Session, self.settings)
            if now - last_rescue > lease / 2 and now >= quiet_until:
                self._rescue()
                last_rescue = time.monotonic()
        return last_rescue, last_beat, quiet_until

    def _renew_leases(self) -> None:
        with self._held_lock:
            held = list(self._held.items())
        lease = self.settings.lease_seconds
        for job_id, (token, lost) in held:
            try:
                if not self.runtime.store.heartbeat(job_id, self.id, lease, token):
                    lost.set()
            except SQLAlchemyError as exc:
                with log_context(job_id=job_id):
                    log.error("cannot renew lease of job %s: %s", job_id, exc)

    def _rescue(self) -> None:
        try:
            result = self.runtime.rescue_expired()
        except SQLAlchemyError as exc:
            log.error("rescue of expired leases failed: %s", one_line(exc))
            return
        for job_id in result.requeued:
            with log_context(job_id=job_id):
                log.warning("job %s requeued: its worker's lease expired", job_id)
        for job_id in result.failed:
            with log_context(job_id=job_id):
                log.error("job %s failed: lease expired too many times", job_id)

    def _safe_beat(self, state: str) -> bool:
        """Record this worker's heartbeat; False when the database did not take it."""
        try:
            beat(
                self.runtime.Session,
                self.id,
                len(self._held),
                self.jobs_done,
                state,
                self.claims.summary,
            )
        except SQLAlchemyError as exc:
            log.error("cannot record heartbeat: %s", one_line(exc))
            return False
        return True


def _default_downloader(runtime: Runtime) -> Downloader:
    return Downloader(runtime.files, DownloadPolicy.from_settings(runtime.settings))
