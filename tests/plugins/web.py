"""Web fixtures: `app`, `client`, users A / B / admin with tokens, signed-in clients, and
`live_server` (waitress on a free 127.0.0.1 port in a thread, with an in-process worker)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from scraper.accounts import Account, create_token, create_user
from scraper.accounts.sessions import open_session
from scraper.config import Settings
from scraper.models import Base
from scraper.runtime import Runtime
from scraper.storage import FileStore, StoredFile
from scraper.web import create_app
from scraper.worker import Worker
from tests.plugins.waitress_thread import waitress_in_thread

PASSWORD = "correct horse battery"
SEARCH = "/api/comprehensive-search"


@dataclass(frozen=True)
class WebUser:
    """A test user: its account, password and an API token."""

    account: Account
    password: str
    token: str

    @property
    def id(self) -> int:
        return self.account.id

    @property
    def name(self) -> str:
        return self.account.username

    @property
    def headers(self) -> dict[str, str]:
        """Headers that authenticate as this user with the bearer token."""
        return {"Authorization": f"Bearer {self.token}"}


@dataclass(frozen=True)
class WebUsers:
    a: WebUser
    b: WebUser
    admin: WebUser

    def __getitem__(self, name: str) -> WebUser:
        user: WebUser = getattr(self, name)
        return user


def make_users(runtime: Runtime) -> WebUsers:
    """Create alice (A), bob (B) and root (admin), each with a token."""

    def one(name: str, admin: bool = False) -> WebUser:
        account = create_user(runtime.Session, name, PASSWORD, admin=admin)
        return WebUser(account, PASSWORD, create_token(runtime.Session, name, "test"))

    return WebUsers(a=one("alice"), b=one("bob"), admin=one("root", admin=True))


def make_app(runtime: Runtime, csrf: bool = False, **config: Any) -> Flask:
    """A testing app over `runtime`; CSRF off unless asked (the CSRF tests turn it on)."""
    values: dict[str, Any] = {
        "SCRAPER_RUNTIME": runtime,
        "TESTING": True,
        "WTF_CSRF_ENABLED": csrf,
        "SCHEMA_CHECK_SECONDS": 0,
        "HEALTH_CHECK_SECONDS": 0,
    }
    return create_app(values | config)


@pytest.fixture
def app(runtime: Runtime) -> Flask:
    """The web app over a fresh database (once per dialect), CSRF checks off."""
    return make_app(runtime)


@pytest.fixture
def csrf_app(runtime: Runtime) -> Flask:
    """The web app with CSRF enforced, as in production."""
    return make_app(runtime, csrf=True)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def users(runtime: Runtime) -> WebUsers:
    """Users A (alice), B (bob) and an admin (root), each with an API token."""
    return make_users(runtime)


def signed_in(app: Flask, user: WebUser) -> FlaskClient:
    """A test client with a dashboard session for `user` (no login round trip)."""
    client = app.test_client()
    sid = open_session(app.extensions["scraper"].Session, user.id)
    with client.session_transaction() as session:
        session["_user_id"] = str(user.id)
        session["_fresh"] = True
        session["sid"] = sid
    return client


@pytest.fixture
def login_as(app: Flask, users: WebUsers) -> Callable[[str], FlaskClient]:
    """`login_as("a")`: a client signed in (session cookie) as user a, b or admin."""
    return lambda name: signed_in(app, users[name])


def submit(client: FlaskClient, user: WebUser, query: str = "cats", n: int = 3) -> str:
    """Create a selftest job as `user` through the API; its id."""
    body = {"query": query, "max_content": n, "enabled_sources": ["selftest"]}
    response = client.post(SEARCH, json=body, headers=user.headers)
    assert response.status_code == 201, response.get_json()
    job_id: str = response.get_json()["job_id"]
    return job_id


def run_all(runtime: Runtime) -> None:
    """Run every pending job to its end with an in-process worker."""
    worker = Worker(runtime, concurrency=1)
    while worker.run_once():
        pass


@dataclass(frozen=True)
class Finished:
    job_id: str
    asset_id: int


@pytest.fixture
def finished(client: FlaskClient, users: WebUsers, runtime: Runtime) -> Finished:
    """A completed selftest job of user A with three assets."""
    return finish_job(client, users, runtime)


def finish_job(client: FlaskClient, users: WebUsers, runtime: Runtime) -> Finished:
    """Submit a selftest job as user A and run it to the end."""
    job_id = submit(client, users.a)
    run_all(runtime)
    assets = client.get(f"/api/assets?job_id={job_id}", headers=users.a.headers).get_json()
    return Finished(job_id, assets["assets"][0]["id"])


# -- live server -------------------------------------------------------------------------------


class SlowFileStore(FileStore):
    """Stores like FileStore, `delay` seconds per item, so a browser can watch progress."""

    def __init__(self, data_dir: Path, delay: float) -> None:
        super().__init__(data_dir)
        self.delay = delay
        self.gate = threading.Event()
        self.gate.set()

    def put_bytes(self, data: bytes, content_type: str, name: str | None = None) -> StoredFile:
        self.gate.wait(30)
        threading.Event().wait(self.delay)
        return super().put_bytes(data, content_type, name)


@dataclass
class LiveServer:
    """A running app: its base URL, runtime, users, the worker's slow file store, the app."""

    url: str
    runtime: Runtime
    users: WebUsers
    files: SlowFileStore
    worker: Worker
    app: Flask


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    """The whole app on SQLite behind waitress, with a worker; each item takes 0.3 s."""
    data_dir = tmp_path / "live-data"
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'live.db'}",
        data_dir=data_dir,
        secret_key="live-test-secret",
        lease_seconds=10,
        poll_interval=0.1,
    )
    runtime = Runtime(settings)
    Base.metadata.create_all(runtime.engine)
    files = SlowFileStore(data_dir, delay=0.3)
    runtime.__dict__["files"] = files  # the cached property, replaced for this test
    users = make_users(runtime)
    app = create_app({"SCRAPER_RUNTIME": runtime, "SCHEMA_CHECK_SECONDS": 0.5})
    try:
        with waitress_in_thread(app, threads=6) as server:
            worker = Worker(runtime, concurrency=1)
            worker.start()
            try:
                url = f"http://127.0.0.1:{server.effective_port}"
                yield LiveServer(url, runtime, users, files, worker, app)
            finally:
                files.gate.set()
                worker.stop(timeout=10)
    finally:
        runtime.close()
