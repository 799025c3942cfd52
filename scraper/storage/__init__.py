"""Where downloaded files live: one small interface (`Storage`), two backends.

`FileStore` keeps them under the data directory (the default); `S3Store` keeps them in an
S3-compatible bucket (`SCRAPER_STORAGE_URL=s3://BUCKET/PREFIX`). Both stage a download in a
local partial file and store it under the same content address, `stored_key()`.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from scraper.errors import ConfigError
from scraper.storage.base import Opened, Storage, StoredFile
from scraper.storage.errors import (
    FileMissing,
    PathEscape,
    StorageError,
    StorageFull,
    StorageProblem,
    StorageUnavailable,
)
from scraper.storage.local import FileStore
from scraper.storage.names import (
    _WINDOWS_DEVICES,
    EXTENSIONS,
    MAX_NAME,
    content_type_for,
    extension_for,
    key_sha256,
    safe_filename,
    stored_key,
)

__all__ = [
    "EXTENSIONS",
    "MAX_NAME",
    "_WINDOWS_DEVICES",
    "FileMissing",
    "FileStore",
    "Opened",
    "PathEscape",
    "Storage",
    "StorageError",
    "StorageFull",
    "StorageProblem",
    "StorageUnavailable",
    "StoredFile",
    "content_type_for",
    "extension_for",
    "key_sha256",
    "open_store",
    "safe_filename",
    "stored_key",
]


def open_store(
    url: str | None,
    data_dir: Path,
    endpoint_url: str | None = None,
    region: str | None = None,
) -> Storage:
    """The backend a storage URL names: unset -> the data dir's `downloads/`;
    `file:///DIR` -> `DIR/downloads/`; `s3://BUCKET/PREFIX` -> that bucket."""
    if not url:
        return FileStore(data_dir)
    parts = urlsplit(url)
    if parts.scheme == "file" and parts.path:
        return FileStore(Path(parts.path))
    if parts.scheme == "s3" and parts.netloc:
        # Imported here: boto3 takes ~0.3 s to import, and a local-disk setup never needs it.
        from scraper.storage.s3 import S3Store

        return S3Store(
            data_dir, parts.netloc, parts.path, endpoint_url, region, FileStore(data_dir)
        )
    raise ConfigError(f"SCRAPER_STORAGE_URL must be s3://BUCKET/PREFIX or file:///DIR, got {url!r}")
