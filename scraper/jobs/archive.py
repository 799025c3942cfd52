"""A job's files as one zip, streamed: each file is read from storage in chunks and each
chunk of zip is handed on as soon as it is written, so memory holds one chunk, not the set.

Media is already compressed, so entries are stored, not deflated. The zip ends with
`metadata.json`: the job, and per file its name in the zip, source, original URL, landing
page, title, author, license, sha256, size and content type (attribution travels along).
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
from collections.abc import Iterable, Iterator
from typing import Any

from scraper.jobs.assets import AssetRecord
from scraper.storage import Storage, StorageError, safe_filename

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024
METADATA = "metadata.json"
# Above this an entry needs zip64 headers, which must be chosen before its size is known.
_ZIP64_FROM = 0x7FFFFFFF


class _Sink(io.RawIOBase):
    """A write-only, unseekable buffer the zip writes into and the generator drains."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def drain(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def entry_names(assets: Iterable[AssetRecord]) -> list[str]:
    """A unique, safe name in the zip for each asset: `source/filename`, numbered on clashes."""
    names: list[str] = []
    seen: set[str] = set()
    for asset in assets:
        name = safe_filename(asset.filename, asset.content_type, f"asset-{asset.id}")
        stem, dot, ext = name.rpartition(".")
        candidate, n = f"{asset.source}/{name}", 1
        while candidate.lower() in seen:
            n += 1
            candidate = (
                f"{asset.source}/{stem}-{n}{dot}{ext}" if dot else f"{asset.source}/{name}-{n}"
            )
        seen.add(candidate.lower())
        names.append(candidate)
    return names


def file_metadata(name: str, asset: AssetRecord) -> dict[str, Any]:
    """One file's line in `metadata.json`."""
    return {
        "name": name,
        "source": asset.source,
        "url": asset.url,
        "landing_url": asset.landing_url,
        "title": asset.title,
        "author": asset.author,
        "license": asset.license,
        "sha256": asset.sha256,
        "size_bytes": asset.size_bytes,
        "content_type": asset.content_type,
    }


def stream_archive(
    files: Storage, job: dict[str, Any], assets: list[AssetRecord], chunk: int = CHUNK
) -> Iterator[bytes]:
    """Yield the zip of the job's files plus `metadata.json`, piece by piece.

    A file missing from storage is left out of the zip and listed under `missing` in the
    manifest (which is written last, so it says exactly what the zip holds).
    """
    sink = _Sink()
    listed: list[dict[str, Any]] = []
    missing: list[dict[str, Any]] = []
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, asset in zip(entry_names(assets), assets, strict=True):
            try:
                opened = files.open(asset.path)
            except StorageError as exc:
                log.warning("archive of job %s: %s left out: %s", asset.job_id, asset.path, exc)
                missing.append(file_metadata(name, asset) | {"reason": str(exc)})
                continue
            info = zipfile.ZipInfo(name, date_time=asset.created_at.timetuple()[:6])
            info.compress_type = zipfile.ZIP_STORED
            try:
                with zf.open(info, "w", force_zip64=opened.size >= _ZIP64_FROM) as entry:
                    while piece := opened.stream.read(chunk):
                        entry.write(piece)
                        yield from _ready(sink)
            finally:
                opened.close()
            listed.append(file_metadata(name, asset))
            yield from _ready(sink)
        manifest: dict[str, Any] = {"job": job, "files": listed}
        if missing:
            manifest["missing"] = missing
        zf.writestr(METADATA, json.dumps(manifest, indent=2, ensure_ascii=False))
    yield from _ready(sink)


def _ready(sink: _Sink) -> Iterator[bytes]:
    data = sink.drain()
    if data:
        yield data
