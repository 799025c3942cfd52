"""Login brute force: failed sign-ins per account and per address are limited, in the database."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update
from werkzeug.test import TestResponse

from scraper.accounts.logins import DEFAULT_THROTTLE, record_failure, retry_after
from scraper.models import LoginAttempt, utcnow
from scraper.runtime import Runtime
from tests.conftest import sqlite_only
from tests.plugins.web import PASSWORD, WebUsers, make_app

pytestmark = sqlite_only

LIMIT = DEFAULT_THROTTLE.max_failures
WINDOW = DEFAULT_THROTTLE.window.total_seconds()


def sign_in(
    client: FlaskClient, username: str, password: str = PASSWORD, address: str = "10.0.0.1"
) -> TestResponse:
    data = {"username": username, "password": password}
    return client.post("/login", data=data, environ_base={"REMOTE_ADDR": address})


def fail(client: FlaskClient, username: str, times: int, address: str = "10.0.0.1") -> None:
    for _ in range(times):
        assert sign_in(client, username, "wrong password", address).status_code == 401


def assert_throttled(response: TestResponse) -> None:
    assert response.status_code == 429
    wait = int(response.headers["Retry-After"])
    assert 0 < wait <= WINDOW
    assert f"Too many failed sign-ins. Try again in {wait} seconds." in response.text


def test_after_five_failures_even_the_right_password_gets_429(
    client: FlaskClient, users: WebUsers
) -> None:
    fail(client, "alice", LIMIT)
    assert_throttled(sign_in(client, "alice"))
    assert client.get("/").status_code == 302  # still signed out


def test_a_stranger_cannot_lock_a_user_out_but_every_guessing_address_stops(
    client: FlaskClient, users: WebUsers
) -> None:
    """Guessing one account from many addresses: once the account has LIMIT failures, each
    address that took part is refused; the user's own address, with none, still signs in."""
    for i in range(LIMIT):
        fail(client, "Alice " if i % 2 else "alice", 1, address=f"10.0.1.{i}")
    for i in range(LIMIT):
        assert_throttled(sign_in(client, "alice", address=f"10.0.1.{i}"))
    assert sign_in(client, "alice", address="10.0.2.1").status_code == 302


def test_a_guessing_address_gets_one_more_try_on_an_account_under_attack(
    client: FlaskClient, users: WebUsers
) -> None:
    fail(client, "alice", LIMIT - 1, address="10.0.5.1")
    fail(client, "alice", 1, address="10.0.5.2")  # its first try: allowed, then it took part
    assert_throttled(sign_in(client, "alice", address="10.0.5.2"))
    assert_throttled(sign_in(client, "alice", address="10.0.5.1"))
    assert sign_in(client, "bob", address="10.0.5.2").status_code == 302


def test_failures_count_per_address_whatever_the_account(
    client: FlaskClient, users: WebUsers
) -> None:
    for i in range(LIMIT):
        fail(client, f"guess{i}", 1, address="10.0.3.1")
    assert_throttled(sign_in(client, "bob", address="10.0.3.1"))
    assert sign_in(client, "bob", address="10.0.3.2").status_code == 302


def test_a_successful_sign_in_is_not_counted_and_clears_the_accounts_failures(
    app: Flask, users: WebUsers
) -> None:
    fail(app.test_client(), "alice", LIMIT - 1, address="10.0.4.1")
    assert sign_in(app.test_client(), "alice", address="10.0.4.1").status_code == 302
    assert sign_in(app.test_client(), "alice", address="10.0.4.1").status_code == 302
    fail(app.test_client(), "alice", LIMIT - 1, address="10.0.4.2")
    assert sign_in(app.test_client(), "alice", address="10.0.4.2").status_code == 302


def test_the_count_is_shared_by_every_web_process(runtime: Runtime, users: WebUsers) -> None:
    """Two apps with their own engines over one database stand in for two web processes."""
    other = Runtime(runtime.settings)
    try:
        first, second = make_app(runtime).test_client(), make_app(other).test_client()
        fail(first, "alice", 2)
        fail(second, "alice", LIMIT - 2)
        assert_throttled(sign_in(first, "alice"))
        assert_throttled(sign_in(second, "alice"))
    finally:
        other.close()


def test_failures_older_than_the_window_no_longer_count(
    client: FlaskClient, runtime: Runtime, users: WebUsers
) -> None:
    fail(client, "alice", LIMIT)
    assert sign_in(client, "alice").status_code == 429
    with runtime.Session() as s, s.begin():
        s.execute(update(LoginAttempt).values(attempted_at=utcnow() - DEFAULT_THROTTLE.window))
    assert sign_in(client, "alice").status_code == 302


def test_retry_after_is_when_the_oldest_counted_failure_leaves_the_window(
    runtime: Runtime,
) -> None:
    start = utcnow()
    for i in range(LIMIT):
        record_failure(runtime.Session, "carol", "10.0.5.1", now=start + timedelta(seconds=i))
    later = start + timedelta(seconds=10)
    assert retry_after(runtime.Session, "carol", "10.0.9.9", now=later) == 0  # took no part
    assert retry_after(runtime.Session, "dave", "10.0.5.1", now=later) == WINDOW - 10
    assert retry_after(runtime.Session, "dave", "10.0.9.9", now=later) == 0
    after_window = start + DEFAULT_THROTTLE.window + timedelta(seconds=0.5)
    assert retry_after(runtime.Session, "carol", "10.0.5.1", now=after_window) == 0


def test_x_forwarded_for_counts_only_from_a_trusted_proxy(
    runtime: Runtime, users: WebUsers
) -> None:
    behind_proxy = Runtime(runtime.settings.with_overrides(web_trusted_proxy="10.9.0.0/16"))
    client = make_app(behind_proxy).test_client()

    def through(peer: str, forwarded: str, username: str = "alice") -> TestResponse:
        data = {"username": username, "password": "wrong password"}
        environ = {"REMOTE_ADDR": peer}
        headers = {"X-Forwarded-For": forwarded}
        return client.post("/login", data=data, environ_base=environ, headers=headers)

    # From the proxy: the nearest hop it did not write is the client, whatever came before.
    for i in range(LIMIT):
        assert through("10.9.0.1", f"198.51.100.{i}, 192.0.2.7, 10.9.0.2").status_code == 401
    assert through("10.9.0.1", "192.0.2.7").status_code == 429
    assert through("10.9.0.1", "192.0.2.8").status_code == 401
    # From anyone else the header is ignored: a guesser cannot pose as a new address each time.
    for i in range(LIMIT):
        assert through("10.8.0.1", f"198.51.100.{i}", "bob").status_code == 401
    assert through("10.8.0.1", "198.51.100.99", "bob").status_code == 429
    behind_proxy.close()
