"""The one way the web layer reaches the Runtime `create_app` was built with."""

from __future__ import annotations

from flask import Flask, current_app

from scraper.runtime import Runtime

RUNTIME_KEY = "scraper"


def init_app(app: Flask, runtime: Runtime) -> None:
    """Keep the runtime on the app for its views and `init_app` hooks."""
    app.extensions[RUNTIME_KEY] = runtime


def runtime_of(app: Flask) -> Runtime:
    """The app's runtime (engine, stores, job service), for `init_app` hooks."""
    runtime: Runtime = app.extensions[RUNTIME_KEY]
    return runtime


def current_runtime() -> Runtime:
    """The runtime of the app handling this request, for views."""
    return runtime_of(current_app)
