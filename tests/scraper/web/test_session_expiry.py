"""Dashboard sessions end on the server after SCRAPER_SESSION_IDLE_TIMEOUT without a request and
SCRAPER_SESSION_MAX_AGE after sign-in (issue 28, item 6): the cookie stops working for good."""

from __future__ import annotations

import time
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from scraper.models import UserSession, utcnow
from scraper.runtime import Runtime
from scraper.web.auth import SEEN_KEY
from tests.conftest import sqlite_only
from tests.plugins.web import PASSWORD, WebUsers

pytestmark = sqlite_only


def _signed_in(app: Flask, users: WebUsers) -> FlaskClient:
    browser = app.test_client()
    response = browser.post("/login", data={"username": users.a.name, "password": PASSWORD})
    assert response.status_code == 302 and browser.get("/").status_code == 200
    return browser


def _sessions(runtime: Runtime) -> int:
    with runtime.Session() as s:
        return s.scalar(select(func.count()).select_from(UserSession)) or 0


def _refused(browser: FlaskClient) -> bool:
    page = browser.get("/")
    return page.status_code == 302 and page.headers["Location"].startswith("/login")


def test_a_session_idle_past_the_timeout_ends_on_the_server(
    app: Flask, users: WebUsers, runtime: Runtime
) -> None:
    browser = _signed_in(app, users)
    idle = runtime.settings.session_idle_timeout
    with browser.session_transaction() as cookie:
        cookie[SEEN_KEY] = int(time.time()) - idle + 5
    assert browser.get("/").status_code == 200  # within the timeout: still signed in
    saved = browser.get_cookie("session")
    assert saved is not None
    with browser.session_transaction() as cookie:
        cookie[SEEN_KEY] = int(time.time()) - idle - 1
    assert _refused(browser)
    assert _sessions(runtime) == 0
    replay = app.test_client()  # the cookie from before it went idle is dead too
    replay.set_cookie("session", saved.value)
    assert _refused(replay)


def test_a_session_ends_at_its_maximum_age_however_active(
    app: Flask, users: WebUsers, runtime: Runtime
) -> None:
    browser = _signed_in(app, users)
    opened = utcnow() - timedelta(seconds=runtime.settings.session_max_age + 1)
    with runtime.Session() as s, s.begin():
        s.execute(update(UserSession).values(created_at=opened))
    assert _refused(browser)
    assert _sessions(runtime) == 0
    assert app.test_client().get("/api/dashboard").status_code == 401
