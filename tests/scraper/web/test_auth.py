"""Accounts on the web: login, logout, cookies, bearer tokens, CSRF, what needs no login."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from scraper.accounts import users as accounts
from scraper.models import ApiToken, User
from scraper.runtime import Runtime
from tests.conftest import sqlite_only
from tests.plugins.web import PASSWORD, WebUsers, make_app, signed_in

pytestmark = sqlite_only

SEARCH = "/api/comprehensive-search"


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    html = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def log_in(
    client: FlaskClient, username: str, password: str = PASSWORD, **extra: str
) -> TestResponse:
    data = {"username": username, "password": password, "csrf_token": csrf_token(client)}
    return client.post("/login", data=data | extra)


def test_login_page_has_a_form_with_a_csrf_token(client: FlaskClient) -> None:
    response = client.get("/login")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'name="password"' in html and 'name="csrf_token"' in html


def test_dashboard_pages_redirect_anonymous_visitors_to_login(client: FlaskClient) -> None:
    for path in ("/", "/jobs/some-id"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login?next=")


def test_login_sets_an_httponly_samesite_session_and_logout_ends_it(
    csrf_app: Flask, users: WebUsers
) -> None:
    client = csrf_app.test_client()
    response = log_in(client, "alice")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert client.get("/").status_code == 200
    token = csrf_token(client, "/")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/").status_code == 302


def test_secure_cookie_flag_is_configurable(runtime: Runtime, users: WebUsers) -> None:
    app = make_app(runtime, SCRAPER_SECURE_COOKIES="1")
    client = app.test_client()
    response = client.post("/login", data={"username": "alice", "password": PASSWORD})
    assert "Secure" in response.headers["Set-Cookie"]
    assert app.config["SESSION_COOKIE_SECURE"] is True


@pytest.mark.parametrize(("setting", "secure"), [("", False), ("0", False), ("1", True)])
def test_the_signed_in_session_cookie_carries_each_flag(
    runtime: Runtime, users: WebUsers, setting: str, secure: bool
) -> None:
    """Parsed from the Set-Cookie of a real sign-in, not from the app's config."""
    client = make_app(runtime, SCRAPER_SECURE_COOKIES=setting).test_client()
    response = client.post("/login", data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    cookie = client.get_cookie("session")
    assert cookie is not None
    assert cookie.http_only is True
    assert cookie.same_site == "Lax"
    assert bool(cookie.secure) is secure


def test_wrong_password_is_refused(csrf_app: Flask, users: WebUsers) -> None:
    client = csrf_app.test_client()
    response = log_in(client, "alice", "wrong password")
    assert response.status_code == 401
    assert "Wrong username or password" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


@pytest.mark.parametrize(
    ("target", "expected"),
    [("/jobs/x", "/jobs/x"), ("//evil.example/", "/"), ("https://evil.example/", "/")],
)
def test_login_follows_only_local_next(
    csrf_app: Flask, users: WebUsers, target: str, expected: str
) -> None:
    response = log_in(csrf_app.test_client(), "alice", next=target)
    assert response.headers["Location"] == expected


def test_passwords_use_scrypt_and_tokens_are_stored_hashed(
    runtime: Runtime, users: WebUsers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(accounts, "PASSWORD_METHOD", "scrypt")  # the tests' cheap hasher off
    accounts.create_user(runtime.Session, "carol", PASSWORD)
    with runtime.Session() as s:
        stored = s.scalar(select(User.password_hash).where(User.username == "carol"))
        assert stored is not None and stored.startswith("scrypt:")
        hashes = set(s.scalars(select(ApiToken.token_hash)))
    assert users.a.token not in hashes and len(hashes) == 3
    assert accounts.authenticate(runtime.Session, "carol", PASSWORD) is not None
    assert accounts.authenticate(runtime.Session, "carol", PASSWORD + "!") is None


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", SEARCH),
        ("GET", "/api/jobs"),
        ("GET", "/api/job-progress/x"),
        ("GET", "/api/jobs/x"),
        ("POST", "/api/jobs/x/cancel"),
        ("POST", "/api/jobs/x/retry"),
        ("GET", "/api/assets"),
        ("GET", "/api/assets/1"),
        ("GET", "/api/assets/1/file"),
        ("GET", "/api/sources"),
        ("GET", "/api/dashboard"),
    ],
)
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer scr_not-a-token"}])
def test_anonymous_or_bad_token_api_calls_get_json_401(
    csrf_app: Flask, method: str, path: str, headers: dict[str, str]
) -> None:
    response = csrf_app.test_client().open(path, method=method, headers=headers, json={})
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/api/openapi.json"])
def test_health_metrics_and_openapi_need_no_login(csrf_app: Flask, path: str) -> None:
    response = csrf_app.test_client().get(path)
    assert response.status_code in (200, 503)
    assert "Location" not in response.headers


def test_bearer_token_wins_over_another_users_session(csrf_app: Flask, users: WebUsers) -> None:
    client = signed_in(csrf_app, users.a)
    created = client.post(
        SEARCH, json={"enabled_sources": ["selftest"], "query": "as bob"}, headers=users.b.headers
    ).get_json()
    job = client.get(f"/api/jobs/{created['job_id']}", headers=users.b.headers).get_json()
    assert job["user_id"] == users.b.id
    assert client.get(f"/api/jobs/{created['job_id']}").status_code == 404  # alice's session


# -- CSRF --------------------------------------------------------------------------------------


def test_session_json_posts_need_the_csrf_header(csrf_app: Flask, users: WebUsers) -> None:
    client = signed_in(csrf_app, users.a)
    refused = client.post(SEARCH, json={"enabled_sources": ["selftest"], "query": "no token"})
    assert refused.status_code == 400 and refused.get_json()["error"] == "csrf_failed"
    token = csrf_token(client, "/")
    accepted = client.post(
        SEARCH,
        json={"enabled_sources": ["selftest"], "query": "token"},
        headers={"X-CSRFToken": token},
    )
    assert accepted.status_code == 201


def test_bearer_json_posts_are_exempt_from_csrf(csrf_app: Flask, users: WebUsers) -> None:
    response = csrf_app.test_client().post(
        SEARCH, json={"enabled_sources": ["selftest"], "query": "x"}, headers=users.a.headers
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/login", {"username": "alice", "password": PASSWORD}),
        ("/logout", {}),
        ("/search", {"query": "x", "max_content": "1", "enabled_sources": "selftest"}),
        ("/jobs/{job}/cancel", {}),
        ("/jobs/{job}/retry", {}),
    ],
)
def test_every_form_post_is_refused_without_the_csrf_token(
    csrf_app: Flask, users: WebUsers, path: str, data: dict[str, str]
) -> None:
    client = signed_in(csrf_app, users.a)
    job = client.post(
        SEARCH, json={"enabled_sources": ["selftest"], "query": "j"}, headers=users.a.headers
    ).get_json()["job_id"]
    url = path.format(job=job)
    response = client.post(url, data=data)
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    state = client.get(f"/api/jobs/{job}", headers=users.a.headers).get_json()["status"]
    assert state == "pending"
    with_token = client.post(url, data=data | {"csrf_token": csrf_token(client, "/")})
    assert with_token.status_code == 302
