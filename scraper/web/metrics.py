"""/metrics and HTTP request metrics (being written by the metrics issue)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register /metrics and the request instrumentation."""
