"""Exceptions of the storage backends, and what a person does about each.

ScraperError
 +-- StorageError             a storage operation failed
      +-- PathEscape          a key would leave the store (`..`, an absolute path)
      +-- FileMissing         no file under that key
      +-- StorageFull         (also OSError) the staging filesystem is full (ENOSPC)
      +-- StorageUnavailable  (also OSError) the backend refused or could not be reached;
                              carries a `StorageProblem`: what kind, and the fix
"""

from __future__ import annotations

import errno
import shutil
from dataclasses import dataclass
from pathlib import Path

from scraper.errors import ScraperError

# The kinds of StorageProblem, for `ops doctor` and /readyz evidence.
ENDPOINT_UNREACHABLE = "endpoint_unreachable"
BUCKET_MISSING = "bucket_missing"
CREDENTIALS_MISSING = "credentials_missing"
CREDENTIALS_REFUSED = "credentials_refused"
ACCESS_DENIED = "access_denied"
BACKEND_ERROR = "backend_error"


@dataclass(frozen=True)
class StorageProblem:
    """A classified storage failure: its kind, one sentence, and the command that fixes it."""

    kind: str
    summary: str
    fix: str


class StorageError(ScraperError):
    """A storage operation failed."""


class PathEscape(StorageError):
    """A path would leave the data directory (or the bucket prefix)."""


class FileMissing(StorageError):
    """No stored file under this key."""

    def __init__(self, key: str) -> None:
        super().__init__(f"no stored file {key}")
        self.key = key


class StorageFull(StorageError, OSError):
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


class StorageUnavailable(StorageError, OSError):
    """The backend could not be reached or refused us; an OSError, so the item that hit it is
    skipped as a storage error (and gets no asset row) like a full disk."""

    def __init__(self, problem: StorageProblem) -> None:
        super().__init__(errno.EIO, problem.summary)
        self.problem = problem

    def __str__(self) -> str:
        return self.problem.summary
