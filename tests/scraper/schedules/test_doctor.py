"""`ops doctor` names a schedule whose last jobs all failed alike (a warning, not a failure)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from ops.cli import main
from scraper.config import Settings
from scraper.migrations.manage import init_db
from scraper.models import ScrapeJob
from scraper.runtime import Runtime
from scraper.worker.heartbeats import beat
from tests.conftest import sqlite_only
from tests.scraper.schedules.helpers import at, hourly, owner

pytestmark = sqlite_only


def test_doctor_warns_naming_the_failing_schedule(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCRAPER_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "data").mkdir()
    runtime = Runtime(Settings.from_env(database_url=db_url))
    init_db(runtime.engine)
    beat(runtime.Session, "live-worker", 0, 0)
    user = owner(runtime.Session)
    sid = hourly(runtime.Session, user, "red pandas")
    with runtime.Session() as s, s.begin():
        for minute in (1, 2, 3):
            s.add(ScrapeJob(id=str(uuid.uuid4()), user_id=user, query="red pandas",
                            max_content=1, enabled_sources=["openverse"], status="failed",
                            error="SourceError: openverse: HTTP 503", schedule_id=sid,
                            created_at=at(10, minute), finished_at=at(10, minute)))  # fmt: skip
    result = CliRunner().invoke(main, ["doctor", "--json", "--database-url", db_url])
    report = json.loads(result.stdout)
    (check,) = [c for c in report["checks"] if c["name"] == "schedules:failing"]
    assert check["status"] == "warn"
    assert f"schedule {sid} ('red pandas'): SourceError: openverse: HTTP 503" in check["output"]
    assert check["fix"].startswith(f"scraper schedule pause {sid}")
    runtime.close()
