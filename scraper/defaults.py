"""Defaults a command needs before (or without) the settings model: importing `scraper.config`
loads pydantic, a tenth of a second that `ops check-schema` would pay for one string."""

from __future__ import annotations

DEFAULT_DATABASE_URL = "sqlite:///data/scraper.db"
