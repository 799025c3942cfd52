"""Shared fixtures: a fresh database per test on SQLite, PostgreSQL and MariaDB; settings; runtime.

A test that needs a service it cannot find skips with the reason, unless
SCRAPER_REQUIRE_SERVICES=1 (CI), then it fails.
"""

from __future__ import annotations

import contextlib
import functools
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from scraper.config import Settings
from scraper.models import Base
from scraper.runtime import Runtime

# Fixture plugins, one module per area (tests/plugins/*.py).
pytest_plugins = [
    "tests.plugins.observability",
    "tests.plugins.http_server",
    "tests.plugins.downloads",
    "tests.plugins.processes",
    "tests.plugins.pgcluster",
    "tests.plugins.web",
]

REQUIRE_SERVICES = os.environ.get("SCRAPER_REQUIRE_SERVICES") == "1"
SERVER_URLS = {
    "postgresql": os.environ.get(
        "SCRAPER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    ),
    "mariadb": os.environ.get(
        "SCRAPER_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
    ),
}
DIALECTS = [
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.postgres),
    pytest.param("mariadb", marks=pytest.mark.mariadb),
]


def missing_service(reason: str) -> None:
    """Skip, or fail when CI demands every service."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (SCRAPER_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


@functools.cache
def _probe(kind: str) -> str | None:
    engine = create_engine(SERVER_URLS[kind])
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        return f"{kind} is not reachable at {engine.url.render_as_string()}: {exc}"
    finally:
        engine.dispose()
    return None


@contextlib.contextmanager
def fresh_database(kind: str, tmp_path: Path) -> Iterator[str]:
    """Yield the URL of a new, empty database of this kind; drop it afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    problem = _probe(kind)
    if problem:
        missing_service(problem)
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(SERVER_URLS[kind], isolation_level="AUTOCOMMIT")
    create = f"CREATE DATABASE {name}"
    if kind == "mariadb":
        create += " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
    drop = f"DROP DATABASE IF EXISTS {name}" + (" WITH (FORCE)" if kind == "postgresql" else "")
    with admin.connect() as conn:
        conn.execute(text(create))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(drop))
        admin.dispose()


@pytest.fixture(params=DIALECTS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database, once per dialect."""
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def settings(db_url: str, data_dir: Path) -> Settings:
    """Settings for a test: its own database and data dir, private networks allowed (127.0.0.1)."""
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
def runtime(settings: Settings) -> Iterator[Runtime]:
    """A runtime whose database has every table of the models."""
    rt = Runtime(settings)
    Base.metadata.create_all(rt.engine)
    yield rt
    rt.close()
