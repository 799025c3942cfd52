"""What the embedded server (waitress) holds against slow and greedy clients, from the settings.

- `channel_timeout`: a connection silent this long is closed, whether idle between requests or
  holding a request half sent (waitress buffers requests, so such a client ties up no thread,
  only a connection slot). Checked every `cleanup_interval`, so a quarter of it.
- `connection_limit`: connections held at once; past it waitress stops accepting (the kernel's
  backlog queues the rest), so it must exceed what a few slow clients can open.
- `max_request_body_size`: a `Content-Length` over it is refused before one body byte is read;
  a chunked body is refused as soon as the bytes received pass it. Below `inbuf_overflow`
  (512 KiB), a body waitress accepts stays in memory: nothing is written to a temp file.
- `clear_untrusted_proxy_headers`: off, so `X-Forwarded-For` reaches the app, which believes it
  from `SCRAPER_WEB_TRUSTED_PROXY` only (`scraper.web.clients`); waitress 3 would drop it.

`init_app` bounds each statement a request runs (`SCRAPER_WEB_STATEMENT_TIMEOUT`) and gives
every 503 a `Retry-After`, so a client backs off instead of queueing on a busy database.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, g

from scraper.config import Settings
from scraper.db import statement_timeout
from scraper.web.context import current_runtime

# Chunk-size lines and trailers count toward waitress's limit; Flask's MAX_CONTENT_LENGTH then
# holds the body itself to the setting exactly.
CHUNK_FRAMING_ALLOWANCE = 16 * 1024
RETRY_AFTER_SECONDS = 5


def waitress_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `waitress.server.create_server`."""
    return {
        "channel_timeout": settings.web_channel_timeout,
        "cleanup_interval": max(1, settings.web_channel_timeout // 4),
        "connection_limit": settings.web_connection_limit,
        "max_request_body_size": settings.web_max_body_bytes + CHUNK_FRAMING_ALLOWANCE,
        "clear_untrusted_proxy_headers": False,
    }


def _bound_statements() -> None:
    g.scraper_statement_timeout = statement_timeout.set(
        current_runtime().settings.web_statement_timeout
    )


def _unbind_statements(_exc: BaseException | None) -> None:
    token = g.pop("scraper_statement_timeout", None)
    if token is not None:
        statement_timeout.reset(token)


def _retry_after(response: Response) -> Response:
    if response.status_code == 503 and "Retry-After" not in response.headers:
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def init_app(app: Flask) -> None:
    """Bound every statement of a request; tell clients of a 503 when to come back."""
    app.before_request_funcs.setdefault(None, []).insert(0, _bound_statements)
    app.teardown_request(_unbind_statements)
    app.after_request(_retry_after)
