"""The local-disk backend (the default): files under `data_dir/downloads`, renamed into place."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from scraper.storage.base import Opened, Storage, in_directory
from scraper.storage.errors import FileMissing, PathEscape
from scraper.storage.names import DOWNLOADS, key_sha256

# The longest a claim (a store of content already stored) keeps a file from being discarded
# if its `release` never comes (the worker died): far longer than a store-to-record takes.
CLAIM_SECONDS = 300.0


class FileStore(Storage):
    """Content-addressed files under `data_dir/downloads`; identical content is stored once."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir)
        self.downloads_dir = self.data_dir / DOWNLOADS
        self.url = str(self.downloads_dir)
        # The shard directories (`downloads/ab`) that stores found inside the data dir, by
        # key prefix: their (device, inode), for `_target`.
        self._checked: dict[str, tuple[int, int]] = {}

    def resolve(self, relative: str) -> Path:
        """The absolute path of a stored file; PathEscape if it would leave the data dir."""
        candidate = (self.data_dir / relative).resolve()
        if not candidate.is_relative_to(self.data_dir):
            raise PathEscape(f"path {relative!r} escapes the data directory")
        return candidate

    def location(self, key: str) -> str:
        return str(self.resolve(key))

    def _save(self, partial: Path, key: str, content_type: str) -> None:
        self._move(partial, self.resolve(key))

    def _target(self, key: str) -> Path:
        """`resolve(key)` for a store, its directory's `realpath` walk (a lookup of every
        directory of the path, ~20 µs) made once: a directory found inside the data dir is
        trusted while the path still leads to it, the same device and inode (one `stat`). A
        link put in its place later leads elsewhere, and is resolved (and refused) again."""
        shard = key.rpartition("/")[0]
        directory = self.data_dir / shard
        try:
            found = os.stat(directory)
        except OSError:  # not made yet (the rename makes it), or unreadable: resolve it all
            return self.resolve(key)
        if self._checked.get(shard) == (found.st_dev, found.st_ino):
            return self.data_dir / key
        target = self.resolve(key)
        if target.parent == directory:  # no link on the way: this path is the directory
            self._checked[shard] = (found.st_dev, found.st_ino)
        return target

    def _store(self, partial: Path, key: str, content_type: str) -> bool:
        """Claim or store, the key resolved once (`_target`)."""
        target = self._target(key)
        if self._claim(target):
            partial.unlink()
            return True
        self._move(partial, target)
        return False

    @staticmethod
    def _move(partial: Path, target: Path) -> None:
        """Rename the partial file to `target`, atomically (a reader sees the whole file or
        none)."""
        in_directory(target.parent, lambda: os.replace(partial, target))

    def exists(self, key: str) -> bool:
        return self.resolve(key).is_file()

    def open(self, key: str) -> Opened:
        path = self.resolve(key)
        try:
            handle = open(path, "rb")  # noqa: SIM115 - the caller closes it
        except (FileNotFoundError, IsADirectoryError):
            raise FileMissing(key) from None
        return Opened(handle, os.fstat(handle.fileno()).st_size, path)

    def delete(self, key: str) -> bool:
        path = self.resolve(key)
        if not path.is_file():
            return False
        path.unlink()
        return True

    def claim(self, key: str) -> bool:
        """Claim the file for CLAIM_SECONDS at most: its mtime is set that far ahead."""
        return self._claim(self.resolve(key))

    @staticmethod
    def _claim(path: Path) -> bool:
        ahead = time.time() + CLAIM_SECONDS
        try:
            for _ in range(3):
                os.utime(path, (ahead, ahead))
                # The lookup and the update are two steps: a discard may move the file in
                # between and, not seeing the mark yet, delete it. Claimed only once the file
                # at the key carries the mark.
                if os.stat(path).st_mtime >= ahead - 1:
                    return True
        except FileNotFoundError:  # discarded meanwhile: the caller stores its own copy
            return False
        return False

    def release(self, key: str) -> None:
        try:
            os.utime(self.resolve(key))
        except FileNotFoundError:  # moved aside by a discard, which will put it back
            pass

    def discard(self, key: str, referenced: Callable[[], bool]) -> bool:
        """Move the file aside (atomic), then delete it, or put it back if it is referenced
        or claimed by now.

        A store that claimed the file before the move is about to reference it; one that
        claims it after the move finds nothing and stores its own copy.
        """
        path = self.resolve(key)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        aside = self.tmp_dir / f"{os.getpid()}-{uuid.uuid4().hex}.discard"
        try:
            os.replace(path, aside)
        except FileNotFoundError:
            return False
        if aside.stat().st_mtime > time.time() or referenced():
            os.replace(aside, path)  # identical content if a store saved a copy meanwhile
            return False
        aside.unlink()
        return True

    def keys(self) -> Iterator[str]:
        if not self.downloads_dir.is_dir():
            return
        for path in sorted(self.downloads_dir.glob("*/*")):
            key = path.relative_to(self.data_dir).as_posix()
            if key_sha256(key) is not None and path.is_file():
                yield key

    def check_writable(self) -> None:
        """Raise OSError if files cannot be created in the data directory.

        It only probes: a missing data directory is a finding to report, not to hide.
        """
        if not self.data_dir.is_dir():
            raise FileNotFoundError(f"data directory {self.data_dir} does not exist")
        probe = self.data_dir / f".probe-{uuid.uuid4().hex}"
        probe.write_bytes(b"ok")
        probe.unlink()
