"""Users (admin only) and API tokens from the dashboard (issue 27 item 5), the CLI's rules."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from scraper.accounts import authenticate, create_user, hash_token
from scraper.models import ApiToken, User, UserSession
from scraper.runtime import Runtime
from tests.conftest import sqlite_only
from tests.plugins.web import PASSWORD, WebUsers, signed_in

pytestmark = sqlite_only
XSS = "<script>alert(1)</script>"
ME = "/api/jobs"  # any API call that needs a valid token


def user_id(runtime: Runtime, name: str) -> int:
    with runtime.Session() as s:
        found = s.scalar(select(User.id).where(User.username == name))
    assert found is not None
    return found


def secret(page: str) -> str:
    found = re.search(r'<code class="secret-value" id="secret-value">([^<]+)</code>', page)
    assert found is not None, page[:500]
    return found.group(1)


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/users"), ("POST", "/users"), ("POST", "/users/1/disable"),
     ("POST", "/users/1/reset-password")],
)  # fmt: skip
def test_only_an_admin_may_manage_users(
    app: Flask, users: WebUsers, runtime: Runtime, method: str, path: str
) -> None:
    data = {"username": "mallory", "password": "long enough pw"}
    answer = signed_in(app, users.a).open(path, method=method, data=data)
    assert answer.status_code == 403 and "Only an admin may manage users." in answer.text
    assert runtime.Session().scalar(select(User).where(User.username == "mallory")) is None
    assert authenticate(runtime.Session, "root", PASSWORD) is not None  # root untouched


def test_an_admin_creates_a_user_whose_random_password_is_shown_once(
    app: Flask, users: WebUsers, runtime: Runtime
) -> None:
    admin = signed_in(app, users.admin)
    made = admin.post("/users", data={"username": XSS})
    assert made.status_code == 200 and made.headers["Cache-Control"] == "no-store"
    password = secret(made.text)
    assert authenticate(runtime.Session, XSS, password) is not None
    listed = admin.get("/users").text
    assert password not in listed and XSS not in listed and "&lt;script&gt;" in listed


@pytest.mark.parametrize(
    ("form", "why"),
    [({"username": "alice", "password": "long enough"}, "user &#39;alice&#39; already exists"),
     ({"username": "dave", "password": "short"}, "a password has at least 8 characters"),
     ({"username": "", "password": "long enough"}, "a username is 1 to 80 characters")],
)  # fmt: skip
def test_a_user_the_cli_would_refuse_is_refused_with_why(
    app: Flask, users: WebUsers, runtime: Runtime, form: dict[str, str], why: str
) -> None:
    answer = signed_in(app, users.admin).post("/users", data=form)
    assert answer.status_code == 400 and why in answer.text
    assert 'id="new-secret"' not in answer.text
    with runtime.Session() as s:
        assert s.scalar(select(User).where(User.username == "dave")) is None


def test_disabling_signs_the_user_out_and_stops_their_token_at_once(
    app: Flask, client: FlaskClient, users: WebUsers, runtime: Runtime
) -> None:
    alice = signed_in(app, users.a)
    assert client.get(ME, headers=users.a.headers).status_code == 200  # remembered as fresh
    admin = signed_in(app, users.admin)
    answer = admin.post(f"/users/{users.a.id}/disable", follow_redirects=True)
    assert "alice: disabled, signed out, their tokens stop working." in answer.text
    assert client.get(ME, headers=users.a.headers).status_code == 401
    assert alice.get("/").status_code == 302
    with runtime.Session() as s:
        assert s.scalar(select(UserSession).where(UserSession.user_id == users.a.id)) is None
    admin.post(f"/users/{users.a.id}/enable")
    assert client.get(ME, headers=users.a.headers).status_code == 200


@pytest.mark.parametrize("action", ["disable", "remove-admin"])
def test_an_admin_cannot_lock_themselves_out(
    app: Flask, users: WebUsers, runtime: Runtime, action: str
) -> None:
    answer = signed_in(app, users.admin).post(
        f"/users/{users.admin.id}/{action}", follow_redirects=True
    )
    assert "Refused: you cannot" in answer.text
    account = authenticate(runtime.Session, "root", PASSWORD)
    assert account is not None and account.is_admin


def test_roles_change_and_a_reset_password_is_shown_once(
    app: Flask, client: FlaskClient, users: WebUsers, runtime: Runtime
) -> None:
    admin = signed_in(app, users.admin)
    admin.post(f"/users/{users.b.id}/make-admin")
    assert client.get("/api/workers", headers=users.b.headers).status_code == 200
    admin.post(f"/users/{users.b.id}/remove-admin")
    assert client.get("/api/workers", headers=users.b.headers).status_code == 403
    reset = admin.post(f"/users/{users.b.id}/reset-password")
    assert reset.headers["Cache-Control"] == "no-store"
    assert authenticate(runtime.Session, "bob", PASSWORD) is None
    assert authenticate(runtime.Session, "bob", secret(reset.text)) is not None
    assert admin.post("/users/99999/enable").status_code == 404


def test_a_token_is_shown_once_stored_hashed_and_works_until_revoked(
    app: Flask, client: FlaskClient, users: WebUsers, runtime: Runtime
) -> None:
    bob = signed_in(app, users.b)
    made = bob.post("/tokens", data={"name": f"backup {XSS}"})
    token = secret(made.text)
    assert made.headers["Cache-Control"] == "no-store"
    with runtime.Session() as s:
        row = s.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
        assert row is not None and row.user_id == users.b.id
    assert client.get(ME, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    listed = bob.get("/tokens").text
    assert token not in listed and XSS not in listed and "backup &lt;script&gt;" in listed
    revoked = bob.post(f"/tokens/{row.id}/revoke", follow_redirects=True)
    assert f"({token[:8]}…) revoked." in revoked.text
    assert client.get(ME, headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_a_user_sees_and_revokes_only_their_own_tokens_an_admin_all(
    app: Flask, client: FlaskClient, users: WebUsers, runtime: Runtime
) -> None:
    with runtime.Session() as s:
        alices = s.scalar(select(ApiToken.id).where(ApiToken.user_id == users.a.id))
    bob = signed_in(app, users.b)
    assert f'data-token-id="{alices}"' not in bob.get("/tokens").text
    assert bob.post(f"/tokens/{alices}/revoke").status_code == 404
    assert bob.post("/tokens", data={"username": "alice"}).status_code == 403
    assert client.get(ME, headers=users.a.headers).status_code == 200
    admin = signed_in(app, users.admin)
    assert f'data-token-id="{alices}"' in admin.get("/tokens").text
    admin.post(f"/tokens/{alices}/revoke")
    assert client.get(ME, headers=users.a.headers).status_code == 401
    for_alice = secret(admin.post("/tokens", data={"username": "alice"}).text)
    assert client.get(ME, headers={"Authorization": f"Bearer {for_alice}"}).status_code == 200


@pytest.mark.parametrize(
    ("path", "data"),
    [("/users", {"username": "eve", "password": "long enough"}), ("/tokens", {"name": "x"}),
     ("/users/{b}/disable", {}), ("/tokens/{tb}/revoke", {})],
)  # fmt: skip
def test_every_form_post_needs_the_csrf_token(
    csrf_app: Flask, users: WebUsers, runtime: Runtime, path: str, data: dict[str, str]
) -> None:
    with runtime.Session() as s:
        tokens_before = s.scalar(select(ApiToken.id).where(ApiToken.user_id == users.b.id))
    url = path.format(b=users.b.id, tb=tokens_before)
    answer = signed_in(csrf_app, users.admin).post(url, data=data)
    assert answer.status_code == 400 and "CSRF" in answer.text
    with runtime.Session() as s:
        assert s.scalar(select(User).where(User.username == "eve")) is None
        assert len(s.scalars(select(ApiToken)).all()) == 3
        assert all(t.revoked_at is None for t in s.scalars(select(ApiToken)))
    assert authenticate(runtime.Session, "bob", PASSWORD) is not None  # still active


def test_a_disabled_user_cannot_sign_in(app: Flask, users: WebUsers, runtime: Runtime) -> None:
    create_user(runtime.Session, "frank", "frank's password")
    signed_in(app, users.admin).post(f"/users/{user_id(runtime, 'frank')}/disable")
    assert authenticate(runtime.Session, "frank", "frank's password") is None


@pytest.mark.parametrize("path", ["/tokens/{big}/revoke", "/users/{big}/enable", "/users/0/enable"])
def test_an_id_no_row_can_have_is_a_404(app: Flask, users: WebUsers, path: str) -> None:
    answer = signed_in(app, users.admin).post(path.format(big=2**70))
    assert answer.status_code == 404 and "There is no" in answer.text
