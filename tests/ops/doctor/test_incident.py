"""The seed incident end to end, over real HTTP against a real `scraper serve` subprocess.

`scrape_jobs` lacks `updated_at`, so the database refuses every job: the job must be held in
the fallback store, visible everywhere, diagnosed by `ops doctor`, healed by `--heal` (or by
the service itself at start-up), then run to completion, with nothing lost or duplicated.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, text

from ops.smoke import free_port, running_server, server_env
from scraper.accounts import create_token, create_user
from scraper.config import Settings
from scraper.runtime import Runtime
from tests.conftest import fresh_database
from tests.plugins.waiting import wait_until

pytestmark = pytest.mark.slow
DIALECTS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
PASSWORD = "incident-password"
ITEMS = 3


class Api:
    """The service's API at `base`, with the admin's token."""

    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.session.close()

    def get(self, path: str) -> requests.Response:
        return self.session.get(self.base + path, timeout=10)

    def post(self, path: str, body: dict[str, Any]) -> requests.Response:
        return self.session.post(self.base + path, json=body, timeout=10)


@dataclass
class Stack:
    """A drifted database, its data dir, an admin token, and a way to start the server."""

    url: str
    data_dir: Path
    token: str
    tmp_path: Path

    def serve(self, auto_heal: str) -> AbstractContextManager[str]:
        env = server_env(self.url, self.data_dir, SCRAPER_AUTO_HEAL=auto_heal)
        return running_server(env, free_port(), self.tmp_path / "server.log", timeout=30)

    def api(self, base: str) -> Api:
        return Api(base, self.token)

    def ops(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(Path(sys.executable).with_name("ops")), *args, "--database-url", self.url]
        env = server_env(self.url, self.data_dir, SCRAPER_SECRET_KEY="incident-secret")
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

    def sql(self, statement: str, **params: Any) -> Any:
        engine = create_engine(self.url)
        try:
            with engine.connect() as conn:
                return conn.execute(text(statement), params).scalar()
        finally:
            engine.dispose()


@pytest.fixture(params=DIALECTS)
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    """A database whose scrape_jobs lacks updated_at (the seed), with an admin and a token."""
    with fresh_database(request.param, tmp_path, "initialized") as url:
        runtime = Runtime(Settings(database_url=url, data_dir=tmp_path / "data"))
        with runtime.engine.begin() as conn:
            conn.execute(text("ALTER TABLE scrape_jobs DROP COLUMN updated_at"))
        create_user(runtime.Session, "admin", PASSWORD, admin=True)
        token = create_token(runtime.Session, "admin", "incident test")
        runtime.close()
        yield Stack(url, tmp_path / "data", token, tmp_path)


def submit(api: Api) -> dict[str, Any]:
    body = {"query": "incident", "max_content": ITEMS, "enabled_sources": ["selftest"]}
    reply = api.post("/api/comprehensive-search", body)
    assert reply.status_code == 201, reply.text
    result: dict[str, Any] = reply.json()
    return result


def in_memory(api: Api) -> float:
    """The sum of scraper_jobs_in_memory over its labels."""
    metrics = api.get("/metrics")
    assert metrics.status_code == 200
    values = re.findall(r"^scraper_jobs_in_memory(?:\{[^}]*\})?\s+(\S+)$", metrics.text, re.M)
    return sum(float(v) for v in values)


def completed_ids(api: Api) -> list[str]:
    reply = api.get("/api/jobs?status=completed")
    return [job["job_id"] for job in reply.json()["jobs"]]


def dashboard_html(base: str) -> str:
    """Sign in through the login form (with its CSRF token) and fetch the dashboard."""
    with requests.Session() as browser:
        form = browser.get(base + "/login", timeout=10).text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert csrf, "login form has no csrf_token"
        data = {"username": "admin", "password": PASSWORD, "csrf_token": csrf.group(1)}
        browser.post(base + "/login", data=data, timeout=10)
        return browser.get(base + "/", timeout=10).text


def see_job_held(api: Api, base: str) -> str:
    """Submit a search and check every place that must show it held in the fallback."""
    accepted = submit(api)
    assert accepted["storage"] == "fallback"
    assert "updated_at" in accepted["warning"]
    listed = api.get("/api/jobs").json()
    held = [job for job in listed["jobs"] if job["job_id"] == accepted["job_id"]]
    assert held and held[0]["storage"] == "fallback"
    assert in_memory(api) == 1
    assert "held in the fallback store" in dashboard_html(base)
    return str(accepted["job_id"])


def see_job_done(stack: Stack, api: Api, job_id: str) -> None:
    """The job ran once, in the database, with its files; nothing is held any more."""
    wait_until(lambda: job_id in completed_ids(api), 45, "the job to complete")
    wait_until(lambda: in_memory(api) == 0, 10, "no job held in memory")
    assert stack.sql("SELECT count(*) FROM scrape_jobs") == 1
    assert stack.sql("SELECT count(*) FROM scrape_jobs WHERE id = :id", id=job_id) == 1
    assert stack.sql("SELECT count(*) FROM assets WHERE job_id = :id", id=job_id) == ITEMS
    assert api.get("/api/jobs").json()["total"] == 1


def test_incident_is_diagnosed_and_healed_by_ops_doctor(stack: Stack) -> None:
    with stack.serve(auto_heal="off") as base, stack.api(base) as api:
        job_id = see_job_held(api, base)

        diagnosis = stack.ops("doctor", "--json")
        assert diagnosis.returncode == 1, diagnosis.stderr
        cause = json.loads(diagnosis.stdout)["root_cause"]
        assert cause["check"] == "schema:in_sync"
        assert "updated_at" in cause["summary"]
        assert cause["fix"].startswith("ops migrate")

        healed = stack.ops("doctor", "--heal", "--json")
        assert healed.returncode == 0, healed.stdout + healed.stderr
        actions = {a["action"]: a for a in json.loads(healed.stdout)["heal"]["actions"]}
        assert actions["migrate"]["ok"] and actions["reconcile"]["ok"]

        see_job_done(stack, api, job_id)
        assert stack.ops("doctor").returncode == 0
        assert stack.ops("reconcile", "--json").returncode == 0
        assert stack.sql("SELECT count(*) FROM scrape_jobs") == 1


def test_incident_heals_itself_at_restart_with_auto_heal_safe(stack: Stack) -> None:
    with stack.serve(auto_heal="off") as base, stack.api(base) as api:
        job_id = see_job_held(api, base)
    assert (stack.data_dir / "fallback-jobs.jsonl").read_text().count(job_id) >= 1

    with stack.serve(auto_heal="safe") as base, stack.api(base) as api:
        see_job_done(stack, api, job_id)
    assert stack.ops("doctor").returncode == 0
