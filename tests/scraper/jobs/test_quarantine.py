"""A held job the database refuses for a reason that will not change is set aside, not retried
forever: quarantined with the reason, listed, shown, counted, and readiness passes again."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from flask import Flask

from healthchecks import run_checks
from ops.cli import main
from scraper.jobs import JobRecord
from scraper.jobs.fallback import QUARANTINE_AFTER
from scraper.models import utcnow
from scraper.runtime import Runtime
from scraper.web.status import schema_cache, system_status
from tests.conftest import servers_only
from tests.plugins.observability import scrape
from tests.plugins.web import make_app

# What each database refuses for good: PostgreSQL a NUL character, MariaDB (strict mode) a
# value longer than its column.
POISON = {"postgresql": "nul\x00here", "mysql": "x" * 600}
pytestmark = servers_only


def hold(runtime: Runtime, job_id: str, query: str) -> JobRecord:
    now = utcnow()
    job = JobRecord(
        id=job_id, query=query, max_content=1, safe_search=True,
        enabled_sources=["selftest"], created_at=now, updated_at=now,
    )  # fmt: skip
    return runtime.fallback.put(job, reason="refused at creation")


def fallback_check(runtime: Runtime) -> str:
    [result] = run_checks(runtime, ["fallback:jobs"])
    return result.status.value


@pytest.mark.slow
def test_a_job_refused_again_and_again_is_quarantined_and_no_longer_fails_readiness(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    poison = hold(runtime, "poison-job", POISON[runtime.engine.dialect.name])
    hold(runtime, "good-job", "fine")
    first = runtime.jobs.reconcile()
    assert first.moved == ["good-job"] and list(first.failed) == ["poison-job"]
    assert fallback_check(runtime) == "fail"
    for _ in range(QUARANTINE_AFTER - 1):
        result = runtime.jobs.reconcile()
    assert list(result.quarantined) == ["poison-job"]
    assert runtime.jobs.reconcile().failed == {}  # the automatic passes leave it alone

    assert fallback_check(runtime) == "warn"
    [held] = runtime.fallback.jobs()
    assert held.id == poison.id and held.quarantined == result.quarantined["poison-job"]

    app: Flask = make_app(runtime)
    samples = scrape(app.test_client(), app)
    assert samples[("scraper_jobs_quarantined", ())] == 1
    banner = " ".join(system_status(runtime, schema_cache(runtime, 10.0)).banner)
    assert "1 job is quarantined" in banner

    monkeypatch.setenv("SCRAPER_DATABASE_URL", runtime.settings.database_url)
    monkeypatch.setenv("SCRAPER_DATA_DIR", str(runtime.settings.data_dir))
    listing = CliRunner().invoke(main, ["jobs", "--storage", "fallback"])
    assert f"quarantined {poison.id}" in listing.stdout and "(quarantined)" in listing.stdout
    again = CliRunner().invoke(main, ["reconcile", "--json"])  # the operator asks: it tries
    assert json.loads(again.stdout)["failures"].keys() == {"poison-job"}
