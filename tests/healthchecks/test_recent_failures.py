"""`jobs:recent_failures`: the last jobs all failing alike, none completed since, is a `fail`
that `/readyz` and `ops doctor` report the same way (issue 29)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from healthchecks import failures
from healthchecks.base import Status
from scraper.models import Base, ScrapeJob, utcnow
from scraper.runtime import Runtime
from scraper.worker.heartbeats import beat
from tests.conftest import sqlite_only

ERROR = "OSError: [Errno 28] No space left on device: 'data/downloads/ab'"

pytestmark = sqlite_only


def finish(runtime: Runtime, status: str, at: datetime, error: str | None = None) -> None:
    fields: dict[str, Any] = dict(
        id=str(uuid.uuid4()), query="red fox", max_content=1, enabled_sources=["selftest"]
    )
    with runtime.Session() as s, s.begin():
        s.add(ScrapeJob(**fields, status=status, error=error, finished_at=at, created_at=at))


@pytest.fixture
def failing(runtime: Runtime) -> list[datetime]:
    """A completed job, then three failed alike with a cancelled one among them."""
    Base.metadata.create_all(runtime.engine)
    beat(runtime.Session, "w-1", 0, 0)
    start = utcnow().replace(microsecond=0) - timedelta(minutes=30)
    finish(runtime, "completed", start)
    failed = [start + timedelta(minutes=n) for n in (1, 2, 4)]
    for at in failed:
        finish(runtime, "failed", at, ERROR)
    finish(runtime, "cancelled", start + timedelta(minutes=3))
    return failed


def test_all_failing_alike_is_a_fail_naming_error_count_and_times(
    runtime: Runtime, failing: list[datetime]
) -> None:
    result = failures.check(runtime)
    assert result.status is Status.FAIL
    assert (result.evidence["count"], result.evidence["error"]) == (3, ERROR)
    first, last = result.evidence["first_at"], result.evidence["last_at"]
    assert (first[:16], last[:16]) == (
        failing[0].strftime("%Y-%m-%dT%H:%M"),
        failing[-1].strftime("%Y-%m-%dT%H:%M"),
    )
    assert f"first at {first}" in result.output and f"last at {last}" in result.output
    assert "none completed since" in result.output


def test_readyz_fails_with_the_same_finding(
    runtime: Runtime, failing: list[datetime], metrics_client: FlaskClient
) -> None:
    response = metrics_client.get("/readyz")
    body = response.get_json(force=True)
    assert response.status_code == 503 and body["status"] == "fail"
    [entry] = body["checks"][failures.NAME]
    assert entry["status"] == "fail" and entry["observedValue"] == 3
    assert entry["output"] == failures.check(runtime).output


def test_one_completed_job_since_ends_the_failure(
    runtime: Runtime, failing: list[datetime]
) -> None:
    finish(runtime, "completed", failing[-1] + timedelta(minutes=1))
    assert failures.check(runtime).status is Status.PASS


def test_two_failures_are_not_yet_a_pattern(runtime: Runtime) -> None:
    Base.metadata.create_all(runtime.engine)
    now = utcnow()
    for n in (1, 2):
        finish(runtime, "failed", now - timedelta(minutes=n), ERROR)
    assert failures.check(runtime).status is Status.PASS
