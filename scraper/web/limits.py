"""What the embedded server (waitress) holds against slow and greedy clients, from the settings.

- `channel_timeout`: a connection silent this long is closed, whether idle between requests or
  holding a request half sent (waitress buffers requests, so such a client ties up no thread,
  only a connection slot). Checked every `cleanup_interval`, so a quarter of it.
- `connection_limit`: connections held at once; past it waitress stops accepting (the kernel's
  backlog queues the rest), so it must exceed what a few slow clients can open.
- `max_request_body_size`: a `Content-Length` over it is refused before one body byte is read;
  a chunked body is refused as soon as the bytes received pass it. Below `inbuf_overflow`
  (512 KiB), a body waitress accepts stays in memory: nothing is written to a temp file.
"""

from __future__ import annotations

from typing import Any

from scraper.config import Settings

# Chunk-size lines and trailers count toward waitress's limit; Flask's MAX_CONTENT_LENGTH then
# holds the body itself to the setting exactly.
CHUNK_FRAMING_ALLOWANCE = 16 * 1024


def waitress_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `waitress.server.create_server`."""
    return {
        "channel_timeout": settings.web_channel_timeout,
        "cleanup_interval": max(1, settings.web_channel_timeout // 4),
        "connection_limit": settings.web_connection_limit,
        "max_request_body_size": settings.web_max_body_bytes + CHUNK_FRAMING_ALLOWANCE,
    }
