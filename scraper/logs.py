"""Logging set-up (the metrics/logging issue extends this with JSON output)."""

from __future__ import annotations

import logging


def configure_logging(log_format: str = "text", level: int = logging.INFO) -> None:
    """Readable text logs on stderr."""
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
