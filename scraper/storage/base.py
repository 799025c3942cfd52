"""The storage interface: stage a download in a local partial file, commit it under its
content address, then open, test, list or delete stored files by key.

Every backend stages locally (the size cap and deadline apply while streaming, and the
sha256 is known before anything is stored), so only `_save` and the reads differ.
"""

from __future__ import annotations

import abc
import contextlib
import errno
import hashlib
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TypeVar

from scraper.storage.errors import StorageFull
from scraper.storage.names import safe_filename, stored_key


@dataclass(frozen=True)
class StoredFile:
    """A file committed to storage; `path` is its key (relative to the data dir on disk)."""

    path: str
    sha256: str
    size_bytes: int
    content_type: str
    filename: str
    claimed: bool = False  # identical content was already stored: `release` it once recorded


@dataclass
class Opened:
    """A stored file opened for reading; `local_path` when it is a file on this host."""

    stream: BinaryIO
    size: int
    local_path: Path | None = None

    def close(self) -> None:
        self.stream.close()


T = TypeVar("T")


def in_directory(directory: Path, action: Callable[[], T]) -> T:
    """`action` (a create or rename into `directory`), the directory made only when the
    action finds it missing: one system call per file instead of a lookup before each."""
    try:
        return action()
    except FileNotFoundError:
        directory.mkdir(parents=True, exist_ok=True)
        return action()


class Storage(abc.ABC):
    """Content-addressed files; identical content is stored once, under one key."""

    url: str  # where the files live, as SCRAPER_STORAGE_URL would say it

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.tmp_dir = self.data_dir / "tmp"

    # -- the backend's part ------------------------------------------------------------------

    @abc.abstractmethod
    def _save(self, partial: Path, key: str, content_type: str) -> None:
        """Store the finished partial file under `key` (it may be moved or left behind)."""

    @abc.abstractmethod
    def exists(self, key: str) -> bool:
        """Whether a file is stored under `key`."""

    @abc.abstractmethod
    def open(self, key: str) -> Opened:
        """Open a stored file for reading; FileMissing if there is none."""

    @abc.abstractmethod
    def delete(self, key: str) -> bool:
        """Delete the file under `key`; False if there was none."""

    @abc.abstractmethod
    def keys(self) -> Iterator[str]:
        """Every stored file's key (content-addressed ones; probes and strays are left out)."""

    @abc.abstractmethod
    def check_writable(self) -> None:
        """Raise OSError (StorageUnavailable for a remote backend) unless a probe can be
        written and deleted; it only probes, it never creates the place it checks."""

    # -- shared: staging and committing -------------------------------------------------------

    @contextlib.contextmanager
    def partial(self) -> Iterator[tuple[BinaryIO, Path]]:
        """A temporary file in the data dir, removed unless committed (renamed) by the caller.

        The `tmp` directory is made when the file cannot be created without it (the first
        one, or after someone removed it), not looked up before every file."""
        path = self.tmp_dir / f"{os.getpid()}-{uuid.uuid4().hex}.part"
        try:
            with in_directory(self.tmp_dir, lambda: open(path, "xb")) as handle:
                yield handle, path
        except OSError as exc:
            if exc.errno == errno.ENOSPC and not isinstance(exc, StorageFull):
                path.unlink(missing_ok=True)  # first, so the message counts the space it held
                raise StorageFull(self.data_dir) from exc
            raise
        finally:
            path.unlink(missing_ok=True)

    def commit(
        self,
        partial: Path,
        sha256: str,
        content_type: str,
        filename: str,
        size: int | None = None,
    ) -> StoredFile:
        """Store a finished partial file under its content address, unless already there.
        `size`: its length, when the caller knows it (else read from the file)."""
        if size is None:
            size = partial.stat().st_size
        key = stored_key(sha256, content_type)
        claimed = self._store(partial, key, content_type)
        return StoredFile(key, sha256, size, content_type, filename, claimed)

    def _store(self, partial: Path, key: str, content_type: str) -> bool:
        """Claim the file already stored under `key` (the partial is dropped) or store the
        partial there; True if it was claimed. A backend may do both with one lookup."""
        if self.claim(key):
            partial.unlink()
            return True
        self._save(partial, key, content_type)
        return False

    def put_bytes(self, data: bytes, content_type: str, name: str | None = None) -> StoredFile:
        """Store in-memory content (the selftest source) through the same path as downloads."""
        with self.partial() as (handle, path):
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())  # durable before its asset row can commit
            handle.close()  # Windows cannot rename a file that is still open
            digest = hashlib.sha256(data).hexdigest()
            filename = safe_filename(name, content_type)
            return self.commit(path, digest, content_type, filename, size=len(data))

    def sweep_partials(self, max_age: float = 3600.0) -> int:
        """Delete partial files of dead processes (a SIGKILLed worker) or older than max_age."""
        removed = 0
        for path in self.tmp_dir.glob("*.part") if self.tmp_dir.exists() else []:
            pid = int(path.name.split("-", 1)[0]) if path.name.split("-", 1)[0].isdigit() else 0
            try:
                stale = time.time() - path.stat().st_mtime > max_age
            except FileNotFoundError:  # committed or dropped by its owner meanwhile
                continue
            if stale or not _alive(pid):
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def sweep_claims(self, max_age: float | None = None) -> int:
        """Remove claims left by dead processes; a store whose claims expire by themselves
        (a file's mtime on disk) keeps nothing to sweep."""
        return 0

    # -- sharing: a file stays while an asset references it ----------------------------------

    def claim(self, key: str) -> bool:
        """Take an already stored file for a new asset; False if there is none (store it).

        A backend that can marks the file as claimed until `release`, so that a concurrent
        `discard` (its last job deleted or pruned) leaves it in place.
        """
        return self.exists(key)

    def release(self, key: str) -> None:  # noqa: B027 - a no-op where claims are not marked
        """End a claim, once the asset row that references the file has committed."""

    def discard(self, key: str, referenced: Callable[[], bool]) -> bool:
        """Delete a file no asset references (unless `referenced()` says one does by now)."""
        return False if referenced() else self.delete(key)

    def location(self, key: str) -> str:
        """Where a key's file is, for a person to read: a path, or an s3:// URL."""
        return f"{self.url}/{key}"

    def read_bytes(self, key: str) -> bytes:
        """The whole content of a stored file (small files: traces, tests)."""
        opened = self.open(key)
        try:
            return opened.stream.read()
        finally:
            opened.close()


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
