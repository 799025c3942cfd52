"""/healthz and /readyz (being written by the health-check issue)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the health endpoints."""
