"""`ops trace`: every hop passes on a healthy stack; the first broken hop is named with evidence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, text

from ops.cli import main
from ops.smoke import free_port, running_server, server_env
from ops.trace import run_trace
from ops.trace.cleanup import temporary_admin
from ops.trace.client import FlaskClient
from scraper.models import Asset, ScrapeJob, User
from scraper.runtime import Runtime
from scraper.web import create_app

HOPS = [
    "api:accepted",
    "database:row",
    "worker:claimed",
    "job:progress",
    "files:on_disk",
    "assets:rows",
    "api:listed",
    "metrics:counted",
]


@pytest.fixture
def runtime(env_runtime: Runtime) -> Runtime:
    """An initialized database of each dialect (see tests/ops/conftest.py)."""
    return env_runtime


def trace(*args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(main, ["trace", "--json", "--timeout", "30", *args])
    return result.exit_code, json.loads(result.stdout)


def count(runtime: Runtime, model: type[Any]) -> int:
    with runtime.Session() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


@pytest.mark.slow
def test_every_hop_passes_in_process_and_the_job_is_cleaned_up(runtime: Runtime) -> None:
    code, report = trace()
    assert code == 0, report
    assert report["status"] == "pass"
    assert [hop["name"] for hop in report["hops"]] == HOPS
    assert all(hop["status"] == "pass" for hop in report["hops"])
    claimed = report["hops"][2]
    assert claimed["evidence"]["locked_by"] in claimed["summary"]
    assert report["hops"][5]["evidence"]["count"] == 3
    assert (count(runtime, ScrapeJob), count(runtime, Asset), count(runtime, User)) == (0, 0, 0)
    assert not list((runtime.settings.downloads_dir).rglob("*.png"))


def test_drifted_schema_breaks_at_the_database_row_with_the_databases_reason(
    runtime: Runtime,
) -> None:
    with runtime.engine.begin() as conn:
        conn.execute(text("ALTER TABLE scrape_jobs DROP COLUMN updated_at"))

    code, report = trace()
    assert code == 1
    assert report["first_broken_hop"] == "database:row"
    assert report["hops"][0]["status"] == "pass"
    summary = report["summary"]
    assert f"API accepted job {report['job_id']}, but scrape_jobs has no such row" in summary
    assert "in the fallback store because the database refused the insert" in summary
    assert "updated_at" in summary
    assert [hop["status"] for hop in report["hops"][2:]] == ["skip"] * 6
    assert len(runtime.fallback) == 0  # the test job was discarded


@pytest.mark.slow
def test_without_a_worker_the_claim_hop_fails_and_lists_workers(runtime: Runtime) -> None:
    app = create_app({"SCRAPER_RUNTIME": runtime, "TESTING": True})
    with temporary_admin(runtime) as admin:
        report = run_trace(FlaskClient(app.test_client(), admin.token), runtime, timeout=1.5)
    assert report.broken is not None and report.broken.name == "worker:claimed"
    assert "no worker claimed it" in report.broken.summary
    assert "workers" in report.broken.evidence
    assert count(runtime, ScrapeJob) == 0


def test_unreachable_url_could_not_run(runtime: Runtime) -> None:
    result = CliRunner().invoke(main, ["trace", "--url", f"http://127.0.0.1:{free_port()}"])
    assert result.exit_code == 2


@pytest.mark.slow
def test_text_output_numbers_each_hop_with_timing(runtime: Runtime) -> None:
    result = CliRunner().invoke(main, ["trace", "--timeout", "30"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1].startswith("1. [PASS] api:accepted")
    assert "All hops passed." in result.stdout


@pytest.mark.slow
def test_url_without_a_token_could_not_run_and_says_how_to_get_one(
    runtime: Runtime, tmp_path: Path
) -> None:
    env = server_env(runtime.settings.database_url, runtime.settings.data_dir)
    with running_server(env, free_port(), tmp_path / "server.log") as url:
        result = CliRunner().invoke(main, ["trace", "--url", url, "--timeout", "10"])
    assert result.exit_code == 2
    assert "--token" in result.output
