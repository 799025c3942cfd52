"""The one advisory file lock (`flock`): the SQLite schema lock and the fallback journal's.

It lives in the schema library because that library may import nothing of the service,
while the service may import the library.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

try:  # POSIX only; elsewhere callers keep their in-process locks alone.
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

POLL_SECONDS = 0.05


@contextlib.contextmanager
def flock(path: Path, exclusive: bool = True, timeout: float | None = None) -> Iterator[None]:
    """Hold an flock on `path` for the block.

    An exclusive lock creates the file (and its directory); a shared one creates nothing: no
    file means no writer ever took the lock, so there is nothing to wait for. With `timeout`
    the wait is bounded and TimeoutError says it ran out; without, it blocks.
    """
    if fcntl is None:
        yield
        return
    try:
        if exclusive:
            path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a" if exclusive else "r")  # noqa: SIM115 - held across the yield
    except FileNotFoundError:
        yield
        return
    with handle:
        _acquire(handle.fileno(), fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH, timeout)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _acquire(fd: int, mode: int, timeout: float | None) -> None:
    if timeout is None:
        fcntl.flock(fd, mode)
        return
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"still locked after {timeout:.0f}s") from None
            time.sleep(POLL_SECONDS)
