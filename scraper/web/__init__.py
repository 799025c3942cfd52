"""The Flask app factory: each area wires itself in with an `init_app(app)`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from healthchecks import http as health_http
from scraper.config import Settings
from scraper.runtime import Runtime
from scraper.web import (
    accounts_page,
    api,
    auth,
    bounds,
    common,
    context,
    dashboard,
    errors,
    fairness,
    housekeeping,
    insight,
    limits,
    metrics,
    openapi,
    pages,
    schedules,
    schedules_page,
)


def settings_from_config(config: Mapping[str, Any]) -> Settings:
    """`SCRAPER_SETTINGS` (a Settings) wins; else `SCRAPER_*` keys over the environment."""
    given = config.get("SCRAPER_SETTINGS")
    if isinstance(given, Settings):
        return given
    env = dict(os.environ)
    env.update({k: str(v) for k, v in config.items() if k.startswith("SCRAPER_")})
    return Settings.from_env(env)


def secure_cookies(config: Mapping[str, Any], settings: Settings) -> bool:
    """`SCRAPER_SECURE_COOKIES` (config, else settings): send cookies over HTTPS only."""
    if "SCRAPER_SECURE_COOKIES" not in config:
        return settings.secure_cookies
    return Settings.from_env(
        {"SCRAPER_SECURE_COOKIES": str(config["SCRAPER_SECURE_COOKIES"])}
    ).secure_cookies


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the web app; `config` takes Flask keys and `SCRAPER_*` settings."""
    config = dict(config or {})
    app = Flask(__name__)
    runtime = config.pop("SCRAPER_RUNTIME", None) or Runtime(settings_from_config(config))

    # No request this app takes is bigger (a search is a few hundred bytes): larger ones get 413.
    body_limit = runtime.settings.web_max_body_bytes
    app.config.update(SECRET_KEY=runtime.settings.secret_key, MAX_CONTENT_LENGTH=body_limit)
    app.config.update(auth.cookie_settings(secure_cookies(config, runtime.settings)))
    app.config.update({k: v for k, v in config.items() if not k.startswith("SCRAPER_")})
    context.init_app(app, runtime)

    errors.init_app(app)
    bounds.init_app(app)
    limits.init_app(app)
    fairness.init_app(app, runtime.settings)
    auth.init_app(app)
    common.init_app(app)
    api.init_app(app)
    dashboard.init_app(app)
    insight.init_app(app)
    housekeeping.init_app(app)
    pages.init_app(app)
    schedules.init_app(app)
    schedules_page.init_app(app)
    accounts_page.init_app(app)
    openapi.init_app(app)
    metrics.init_app(app)
    health_http.init_app(app, runtime)
    return app
