"""Files under the data directory: partial downloads, content-addressed storage, safe names."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import time
import unicodedata
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from scraper.errors import ScraperError

# The only extensions a stored file can get: its name never comes from the remote side.
EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "image/svg+xml": ".svg",
    "image/avif": ".avif",
    "image/bmp": ".bmp",
    "image/tiff": ".tiff",
    "video/mp4": ".mp4",
    "video/webm": ".webm",
    "video/ogg": ".ogv",
    "video/quicktime": ".mov",
    "audio/mpeg": ".mp3",
    "audio/ogg": ".ogg",
    "audio/wav": ".wav",
    "audio/x-wav": ".wav",
    "audio/flac": ".flac",
    "audio/webm": ".weba",
    "application/pdf": ".pdf",
}
_WINDOWS_DEVICES = {"con", "prn", "aux", "nul"} | {
    f"{p}{i}" for p in ("com", "lpt") for i in range(10)
}
_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")
_DOTS = re.compile(r"\.{2,}")
MAX_NAME = 120


class PathEscape(ScraperError):
    """A path would leave the data directory."""


class StorageFull(ScraperError, OSError):
    """The data directory's filesystem is full (ENOSPC); an OSError, so a download that hits
    it fails like any other I/O error, with a message that names the cause and the place."""

    def __init__(self, data_dir: Path) -> None:
        try:
            free = f"{shutil.disk_usage(data_dir).free} bytes free"
        except OSError:
            free = "free space unknown"
        message = f"ENOSPC: no space left on device under {data_dir} ({free})"
        super().__init__(errno.ENOSPC, message)
        self.data_dir = data_dir


@dataclass(frozen=True)
class StoredFile:
    """A file committed to storage; `path` is relative to the data directory."""

    path: str
    sha256: str
    size_bytes: int
    content_type: str
    filename: str


def extension_for(content_type: str) -> str:
    return EXTENSIONS.get(content_type.split(";")[0].strip().lower(), ".bin")


def safe_filename(name: str | None, content_type: str, fallback: str = "file") -> str:
    """A display name that is safe on any filesystem: no separators, dots, devices or length."""
    raw = unicodedata.normalize("NFKC", name or "")
    raw = raw.replace("\\", "/").rsplit("/", 1)[-1]
    stem = raw.rsplit(".", 1)[0] if "." in raw else raw
    ext = extension_for(content_type)
    # Cut before stripping, so a cut never leaves a trailing dot or space ("x..png").
    stem = _DOTS.sub(".", _UNSAFE.sub("_", stem))[: MAX_NAME - len(ext)].strip(" ._-")
    # Windows reserves a device name before any extension too: "lpt1.tar.png".
    if not stem or stem.split(".", 1)[0].strip().lower() in _WINDOWS_DEVICES:
        stem = fallback
    return stem + ext


class FileStore:
    """Content-addressed files under `data_dir/downloads`; identical content is stored once."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.downloads_dir = self.data_dir / "downloads"
        self.tmp_dir = self.data_dir / "tmp"

    @contextlib.contextmanager
    def partial(self) -> Iterator[tuple[BinaryIO, Path]]:
        """A temporary file in the data dir, removed unless committed (renamed) by the caller."""
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        path = self.tmp_dir / f"{os.getpid()}-{uuid.uuid4().hex}.part"
        try:
            with open(path, "xb") as handle:
                yield handle, path
        except OSError as exc:
            if exc.errno == errno.ENOSPC and not isinstance(exc, StorageFull):
                path.unlink(missing_ok=True)  # first, so the message counts the space it held
                raise StorageFull(self.data_dir) from exc
            raise
        finally:
            path.unlink(missing_ok=True)

    def commit(self, partial: Path, sha256: str, content_type: str, filename: str) -> StoredFile:
        """Move a finished partial file into place atomically (or drop it if already stored)."""
        size = partial.stat().st_size
        target = self.downloads_dir / sha256[:2] / f"{sha256}{extension_for(content_type)}"
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            partial.unlink()
        else:
            os.replace(partial, target)
        return StoredFile(
            path=target.relative_to(self.data_dir).as_posix(),
            sha256=sha256,
            size_bytes=size,
            content_type=content_type,
            filename=filename,
        )

    def put_bytes(self, data: bytes, content_type: str, name: str | None = None) -> StoredFile:
        """Store in-memory content (the selftest source) through the same path as downloads."""
        with self.partial() as (handle, path):
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()  # Windows cannot rename a file that is still open
            digest = hashlib.sha256(data).hexdigest()
            return self.commit(path, digest, content_type, safe_filename(name, content_type))

    def resolve(self, relative: str) -> Path:
        """The absolute path of a stored file; PathEscape if it would leave the data dir."""
        candidate = (self.data_dir / relative).resolve()
        if not candidate.is_relative_to(self.data_dir):
            raise PathEscape(f"path {relative!r} escapes the data directory")
        return candidate

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

    def check_writable(self) -> None:
        """Raise OSError if files cannot be created in the data directory.

        It only probes: a missing data directory is a finding to report, not to hide.
        """
        if not self.data_dir.is_dir():
            raise FileNotFoundError(f"data directory {self.data_dir} does not exist")
        probe = self.data_dir / f".probe-{uuid.uuid4().hex}"
        probe.write_bytes(b"ok")
        probe.unlink()


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
