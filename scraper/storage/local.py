"""The local-disk backend (the default): files under `data_dir/downloads`, renamed into place."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

from scraper.storage.base import Opened, Storage
from scraper.storage.errors import FileMissing, PathEscape
from scraper.storage.names import DOWNLOADS, key_sha256


class FileStore(Storage):
    """Content-addressed files under `data_dir/downloads`; identical content is stored once."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir)
        self.downloads_dir = self.data_dir / DOWNLOADS
        self.url = str(self.downloads_dir)

    def resolve(self, relative: str) -> Path:
        """The absolute path of a stored file; PathEscape if it would leave the data dir."""
        candidate = (self.data_dir / relative).resolve()
        if not candidate.is_relative_to(self.data_dir):
            raise PathEscape(f"path {relative!r} escapes the data directory")
        return candidate

    def location(self, key: str) -> str:
        return str(self.resolve(key))

    def _save(self, partial: Path, key: str, content_type: str) -> None:
        target = self.resolve(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(partial, target)  # atomic: a reader sees the whole file or none

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
