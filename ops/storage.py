"""`ops storage migrate`: copy every stored file to another backend, idempotently.

A file is content-addressed, so its key is the same in every backend and no asset row
changes: the service keeps reading the old store until SCRAPER_STORAGE_URL is switched, and
an S3 store reads through to the data directory for a key not copied yet. A file already in
the target is skipped (a second run copies nothing; an interrupted one resumes), and every
copy is hashed on the way and refused if the content does not match its address.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ops.errors import OpsError
from scraper.errors import ConfigError
from scraper.storage import (
    Storage,
    StorageError,
    StorageUnavailable,
    content_type_for,
    key_sha256,
    open_store,
)

if TYPE_CHECKING:
    from scraper.runtime import Runtime

COPIED, PRESENT, WOULD_COPY, FAILED = "copied", "present", "would_copy", "failed"


@dataclass(frozen=True)
class FileCopy:
    """What happened to one key."""

    key: str
    action: str
    size_bytes: int = 0
    error: str | None = None


@dataclass
class MigrationReport:
    """Counts per action, bytes copied and the failures, for text or JSON."""

    source: str
    target: str
    dry_run: bool
    files: list[FileCopy] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for f in self.files if f.action == action)

    @property
    def ok(self) -> bool:
        return self.count(FAILED) == 0

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "dry_run": self.dry_run,
            "total": len(self.files),
            **{a: self.count(a) for a in (COPIED, PRESENT, WOULD_COPY, FAILED)},
            "bytes_copied": sum(f.size_bytes for f in self.files if f.action == COPIED),
            "failures": [{"key": f.key, "error": f.error} for f in self.files if f.error],
        }

    def text(self) -> str:
        data = self.to_json()
        verb = "would copy" if self.dry_run else "copied"
        moved = data[WOULD_COPY] if self.dry_run else data[COPIED]
        lines = [
            f"{self.source} -> {self.target}: {len(self.files)} files, {verb} {moved} "
            f"({data['bytes_copied']} bytes), {data[PRESENT]} already there, "
            f"{data[FAILED]} failed"
        ]
        lines += [f"  failed {f['key']}: {f['error']}" for f in data["failures"]]
        return "\n".join(lines)


def copy_file(source: Storage, target: Storage, key: str, dry_run: bool = False) -> FileCopy:
    """Copy one key unless the target has it; the content must hash to its address."""
    try:
        if target.exists(key):
            return FileCopy(key, PRESENT)
        if dry_run:
            return FileCopy(key, WOULD_COPY)
        return _copy(source, target, key)
    except StorageError as exc:
        return FileCopy(key, FAILED, error=str(exc))


def _copy(source: Storage, target: Storage, key: str) -> FileCopy:
    expected = key_sha256(key)
    opened = source.open(key)
    digest = hashlib.sha256()
    with target.partial() as (handle, path):
        try:
            while chunk := opened.stream.read(1024 * 1024):
                digest.update(chunk)
                handle.write(chunk)
        finally:
            opened.close()
        handle.close()
        if digest.hexdigest() != expected:
            return FileCopy(key, FAILED, error="the content does not match its sha256 address")
        stored = target.commit(path, digest.hexdigest(), content_type_for(key), key)
    return FileCopy(key, COPIED, stored.size_bytes)


def migrate(
    source: Storage,
    target: Storage,
    dry_run: bool = False,
    on_file: Callable[[FileCopy], None] = lambda copy: None,
    keys: list[str] | None = None,
) -> MigrationReport:
    """Copy every key of `source` (or `keys`) to `target`; `on_file` after each one."""
    report = MigrationReport(source.url, target.url, dry_run)
    for key in list(source.keys()) if keys is None else keys:
        copy = copy_file(source, target, key, dry_run)
        report.files.append(copy)
        on_file(copy)
    return report


def same_place(source: Storage, target: Storage) -> bool:
    """Whether both name the same store (copying onto itself is refused)."""
    return source.url == target.url


def store_at(runtime: Runtime, url: str | None) -> Storage:
    """The store at `url` (None: the service's own, SCRAPER_STORAGE_URL); OpsError if the URL
    names none."""
    if url is None:
        return runtime.files
    s = runtime.settings
    try:
        return open_store(url, s.data_dir, s.s3_endpoint_url, s.s3_region)
    except ConfigError as exc:
        raise OpsError(str(exc).replace("SCRAPER_STORAGE_URL", "the URL")) from exc


def ensure_writable(target: Storage) -> None:
    """OpsError, with the fix, unless a file can be written to `target`."""
    try:
        target.check_writable()
    except StorageUnavailable as exc:
        raise OpsError(f"{exc} (fix: {exc.problem.fix})") from exc
    except OSError as exc:
        raise OpsError(f"cannot write to {target.url}: {exc}") from exc
