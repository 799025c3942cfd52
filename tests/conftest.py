"""Shared fixtures: a clean database per test on SQLite, PostgreSQL and MariaDB; settings; runtime.

A test that needs a service it cannot find skips with the reason, unless
SCRAPER_REQUIRE_SERVICES=1 (CI), then it fails.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from scraper.accounts import users as accounts
from scraper.config import Settings
from scraper.runtime import Runtime

# Fixture plugins, one module per area (tests/plugins/*.py).
pytest_plugins = [
    "tests.plugins.observability",
    "tests.plugins.http_server",
    "tests.plugins.downloads",
    "tests.plugins.processes",
    "tests.plugins.pgcluster",
    "tests.plugins.web",
    "tests.plugins.seaweedfs",
    "tests.plugins.netns",
]
from tests.plugins import databases  # noqa: E402

REQUIRE_SERVICES = os.environ.get("SCRAPER_REQUIRE_SERVICES") == "1"
SERVER_URLS = databases.SERVER_URLS
DIALECTS = [
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.postgres),
    pytest.param("mariadb", marks=pytest.mark.mariadb),
]
SERVER_DIALECTS = DIALECTS[1:]
# For a test whose behaviour cannot differ by database (validation, ownership rules, headers).
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
# For a test of what only a database server does (row locks held elsewhere, statement timeouts).
servers_only = pytest.mark.parametrize("db_url", SERVER_DIALECTS, indirect=True)
# Fixtures whose presence means a test starts from the models' tables, not an empty database.
_SCHEMA_FIXTURES = {"runtime"}
_pool: databases.DatabasePool | None = None


def missing_service(reason: str) -> None:
    """Skip, or fail when CI demands every service."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (SCRAPER_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def _probe(kind: str) -> str | None:
    return databases.probe(kind)


@contextlib.contextmanager
def fresh_database(kind: str, tmp_path: Path, flavour: str | None = None) -> Iterator[str]:
    """Yield the URL of a database of this kind, empty or holding `flavour`'s schema
    ("models": the ORM's tables; "initialized": `ops init-db`'s result); dropped or emptied after.
    """
    if kind != "sqlite":
        problem = databases.probe(kind)
        if problem:
            missing_service(problem)
    assert _pool is not None, "the database pool is made at session start"
    with _pool.database(kind, tmp_path, flavour) as url:
        yield url


@pytest.fixture(scope="session", autouse=True)
def database_pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[databases.DatabasePool]:
    """The session's schema templates (one per dialect and flavour, built on first use)."""
    global _pool
    _pool = databases.DatabasePool(tmp_path_factory.mktemp("templates"))
    yield _pool
    _pool.close()
    _pool = None


@pytest.fixture(autouse=True, scope="session")
def cheap_password_hashes() -> Iterator[None]:
    """Hash test passwords with one PBKDF2 round: scrypt costs 0.2-0.5 s a user, and the
    fixtures make thousands. The production method keeps its own test (test_auth.py)."""
    saved = accounts.PASSWORD_METHOD
    accounts.PASSWORD_METHOD = "pbkdf2:sha256:1"
    yield
    accounts.PASSWORD_METHOD = saved


@pytest.fixture(params=DIALECTS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database once per dialect: a copy of the models' tables when the test uses `runtime`,
    else empty."""
    flavour = "models" if _SCHEMA_FIXTURES & set(request.fixturenames) else None
    with fresh_database(request.param, tmp_path, flavour) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


def make_settings(db_url: str, data_dir: Path) -> Settings:
    """Settings for a test: its database and data dir, private networks allowed (127.0.0.1)."""
    return Settings(
        database_url=db_url,
        data_dir=data_dir,
        secret_key="test-secret",
        allow_private_networks=True,
        lease_seconds=5,
        reconcile_interval=0.5,
        poll_interval=0.05,
        download_deadline=10.0,
        download_timeout=5.0,
    )


@pytest.fixture
def settings(db_url: str, data_dir: Path) -> Settings:
    """Settings for a test: its own database and data dir."""
    return make_settings(db_url, data_dir)


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    """A runtime whose database has every table of the models (`db_url` copied them)."""
    rt = Runtime(settings)
    yield rt
    rt.close()


# Tests that take the whole machine (namespaces, a tmpfs, a private PostgreSQL cluster, server
# restarts) run one at a time on one xdist worker; the session's SeaweedFS is started once.
_GROUPS = {
    "netns_lab": "machine",
    "small_data_dir": "machine",
    "private_postgres": "machine",
    "seaweedfs": "seaweedfs",
}


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups into the node ids
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    _slow_modules_first(items)
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        group = next((g for f, g in _GROUPS.items() if f in names), None)
        if "test_write_faults.py" in item.nodeid:  # SET GLOBAL read_only: the whole server
            group = "machine"
        if group:
            item.add_marker(pytest.mark.xdist_group(group))


def _slow_modules_first(items: list[pytest.Item]) -> None:
    """Modules with the most slow tests run first, each module's tests kept together and in
    order: xdist hands tests out in this order, so a long test no longer starts near the end
    of the run and keeps one worker busy after the others are done (longest work first)."""
    slow: dict[str, int] = {}
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        slow[module] = slow.get(module, 0) + (item.get_closest_marker("slow") is not None)
    items.sort(key=lambda item: -slow[item.nodeid.split("::", 1)[0]])
