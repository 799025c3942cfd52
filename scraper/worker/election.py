"""One idle worker per host polls and listens; the others wait on a lock, holding no connection.

Idle workers that share a data directory (one host) elect a leader with an `flock` on
`LOCK_NAME` there. The leader keeps its connection, listens for queued jobs (PostgreSQL) and
polls, as every idle worker did before; a follower closes its connections and waits. When the
leader claims its last free slot it lets go of the lock, and a follower blocked on it becomes
leader and claims at once: a burst of jobs spreads one handover (a connect and a claim) at a
time, and a host's idle fleet costs the database one connection and one poller.

flock locks belong to the open file description: each `Election` opens the file itself, so
two workers in one process elect as two processes do, and the kernel lets go of a dead
process's lock (even after SIGKILL). The blocking `flock` runs in a daemon thread, which never
keeps a stopping process alive. Only a started worker creates the file.

The leader touches the file as it polls; a leader that stopped polling while alive (SIGSTOP,
a hung thread) is stood in for by one follower (`stands_in`), so a host never stops claiming.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

log = logging.getLogger(__name__)

LOCK_NAME = ".idle-worker.lock"
# The host's one slot for a follower's brief connection (its beat, its last beat at shutdown):
# a fleet stopped or started at once connects one follower at a time, not all of them.
SLOT_NAME = ".idle-worker-connect.lock"
SLOT_POLL = 0.005  # seconds between two tries of the slot
# A follower stands in for a leader that stopped polling (SIGSTOP, a hung thread) while it
# holds this lock: one stand-in per host, not every follower at once.
STAND_IN_NAME = ".idle-worker-stand-in.lock"


class Election:
    """This worker's part in its host's election: `leading` while it holds the lock.

    The worker says whether it `want`s to lead (it has a free job slot); `on_lead` runs once
    it leads, `on_follow` once it waits behind another leader.
    """

    def __init__(
        self, data_dir: Path, on_lead: Callable[[], None], on_follow: Callable[[], None]
    ) -> None:
        self.path = data_dir / LOCK_NAME
        self._on_lead = on_lead
        self._on_follow = on_follow
        self._cond = threading.Condition()
        self._fd: int | None = None
        self._stand_in: int | None = None  # the stand-in lock's descriptor while standing in
        self._wanted = False
        self._closed = False
        self.leading = False

    def start(self) -> None:
        """Open the lock file; when it cannot be opened, lead alone (poll, as before)."""
        try:
            self._fd = _open(self.path)
        except OSError as exc:
            log.warning("no election of idle workers (%s): this worker polls on its own", exc)
            self._lead_alone()
            return
        threading.Thread(target=self._run, name="worker-election", daemon=True).start()

    def want(self, wanted: bool) -> None:
        """Want to lead (a free slot) or not (every slot busy: the lock goes to a follower).

        Wanting tries the lock at once, in the caller's thread: a worker whose chain of jobs
        ended on a host with no leader leads again without closing its connection first."""
        led = False
        with self._cond:
            if wanted == self._wanted or self._closed:
                return
            self._wanted = wanted
            if wanted and not self.leading and self._fd is not None:
                try:
                    led = self.leading = self._flock(fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError as exc:  # no locks here (ENOLCK): poll, as before
                    log.warning("no election of idle workers (%s): polling on its own", exc)
                    led = self.leading = True
            self._cond.notify_all()
        if not wanted:
            self.stand_down()  # busy: another follower may stand in
        if led:
            self.alive()
            self._on_lead()

    def close(self) -> None:
        """Let go of the lock (a thread blocked on it lets go as soon as it gets it)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self.stand_down()

    def alive(self) -> None:
        """Say the leader polls: it touches the lock file (followers read its age)."""
        fd = self._fd
        if self.leading and fd is not None:
            with contextlib.suppress(OSError):
                os.utime(fd)

    def stands_in(self, stale_after: float) -> bool:
        """True while this follower claims in place of a leader that has not polled for
        `stale_after` seconds (it holds the lock but is stopped or hung); one follower of the
        host at a time, until the leader polls again or dies (then a follower leads)."""
        fd = self._fd
        if self.leading or fd is None:
            return False
        try:
            stale = time.time() - os.fstat(fd).st_mtime > stale_after
        except OSError:
            stale = False
        if not stale:
            self.stand_down()
            return False
        with self._cond:  # the worker's job loops ask at once
            if self._stand_in is None:
                self._stand_in = self._take(self.path.with_name(STAND_IN_NAME))
                if self._stand_in is not None:
                    log.warning(
                        "the idle leader has not polled for %.0f s: standing in", stale_after
                    )
            return self._stand_in is not None

    @property
    def standing_in(self) -> bool:
        """True while this follower claims in place of a stopped leader (`stands_in`)."""
        return self._stand_in is not None

    def stand_down(self) -> None:
        """Stop standing in (the leader is back, or this worker is busy or stopping)."""
        with self._cond:
            fd, self._stand_in = self._stand_in, None
        if fd is not None:
            os.close(fd)

    def _take(self, path: Path) -> int | None:
        """The descriptor of `path` locked by this worker, or None (held elsewhere)."""
        try:
            fd = _open(path)
        except OSError:
            return None
        if self._try(fd):
            return fd
        os.close(fd)
        return None

    @contextlib.contextmanager
    def connect_slot(self, timeout: float) -> Iterator[bool]:
        """Hold the host's slot for an idle follower's brief connection, waited for up to
        `timeout` seconds; yields whether it was got (if not, the caller connects later or
        not at all: the host's followers never connect all at once)."""
        try:
            fd = _open(self.path.with_name(SLOT_NAME))
        except OSError:  # no slot to share (a read-only data directory): connect, as before
            yield True
            return
        try:
            deadline = time.monotonic() + timeout
            while not (got := self._try(fd)) and time.monotonic() < deadline:
                time.sleep(SLOT_POLL)
            yield got
        finally:
            os.close(fd)

    @staticmethod
    def _try(fd: int) -> bool:
        return _flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _run(self) -> None:
        assert self._fd is not None
        try:
            while self._next_wait():
                self._on_follow()
                if not self._flock(fcntl.LOCK_EX):  # blocks until the leader lets go
                    return
                with self._cond:
                    if self._closed:
                        return
                    self.leading = True
                self.alive()  # its predecessor's last touch may be old
                self._on_lead()
        except Exception:  # noqa: BLE001 - a broken election must not stop the claims
            log.warning("the election of idle workers failed: leading alone", exc_info=True)
            self._lead_alone()
        finally:
            with self._cond:
                fd, self._fd = self._fd, None
            os.close(fd)  # lets go of the lock

    def _next_wait(self) -> bool:
        """Wait for a change; let go of the lock when no longer wanted. True when this worker
        must wait behind another leader, False when the election closes."""
        with self._cond:
            while True:
                self._cond.wait_for(lambda: self._closed or self._wanted != self.leading)
                if self._closed:
                    self.leading = False
                    return False
                if not self.leading:
                    return True
                self.leading = False
                self._flock(fcntl.LOCK_UN)

    def _flock(self, operation: int) -> bool:
        assert self._fd is not None
        return _flock(self._fd, operation)

    def _lead_alone(self) -> None:
        with self._cond:
            self.leading = True
            self._wanted = True
        self._on_lead()


def _flock(fd: int, operation: int) -> bool:
    """True when `operation` took effect; False when the lock is held elsewhere."""
    try:
        fcntl.flock(fd, operation)
    except BlockingIOError:
        return False
    return True


def _open(path: Path) -> int:
    """A lock file of the host's election, made if missing (only a started worker opens one)."""
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
