"""Serve a stored file from whichever backend holds it, streamed through this process.

Streamed, not redirected to a presigned URL: the object store often sits on a private
network browsers cannot reach, the same auth check and headers (nosniff, sandboxing CSP,
attachment for non-images) apply to every byte, and a presigned URL would be a bearer
credential that outlives a revoked session. The content address is a perfect ETag.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from flask import Response, send_file

from scraper.jobs.assets import AssetRecord
from scraper.storage import FileMissing, PathEscape, Storage, StorageUnavailable, safe_filename
from scraper.web.errors import ApiError

# Images inline (and PDFs, see PDF_CSP); anything else (SVG, ...) is a download, never run here.
INLINE_TYPES = frozenset(
    {"image/png", "image/jpeg", "image/gif", "image/webp", "image/avif", "image/bmp"}
)
# The browser's own viewers: its image page styles itself inline, and its PDF viewer is a
# plugin that a sandboxed document may not start (so a PDF gets no sandbox, and no script).
FILE_CSP = (
    "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; sandbox"
)
PDF_CSP = "default-src 'none'; object-src 'self'; style-src 'unsafe-inline'; base-uri 'none'"
PDF = "application/pdf"


def send_stored(files: Storage, asset: AssetRecord, download: bool) -> Response:
    """The asset's file: images inline unless `download`, anything else as an attachment."""
    try:
        opened = files.open(asset.path)
    except (PathEscape, FileMissing):
        raise ApiError(404, "file_missing", f"the file of asset {asset.id} is missing") from None
    except StorageUnavailable as exc:
        raise ApiError(503, "storage_unavailable", str(exc)) from None
    viewable = asset.content_type in INLINE_TYPES or asset.content_type == PDF
    inline = viewable and not download
    name = safe_filename(asset.filename, asset.content_type, f"asset-{asset.id}")
    if opened.local_path is not None:
        opened.close()  # send_file opens the path itself (and answers ranges from it)
        source: Path | BinaryIO = opened.local_path
    else:
        source = opened.stream
    response = send_file(
        source,
        mimetype=asset.content_type,
        as_attachment=not inline,
        download_name=name,
        conditional=True,
        etag=True if opened.local_path is not None else asset.sha256,
    )
    if opened.local_path is None and response.status_code == 200:
        response.content_length = opened.size
    response.headers["X-Content-Type-Options"] = "nosniff"
    csp = PDF_CSP if asset.content_type == PDF else FILE_CSP
    response.headers["Content-Security-Policy"] = csp
    return response
