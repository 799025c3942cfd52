"""Fixtures for the `ops` commands, which find their database and data dir in the environment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scraper.config import Settings
from scraper.jobs import JobRecord
from scraper.models import utcnow
from scraper.runtime import Runtime
from tests.conftest import fresh_database

OPS_DIALECTS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=OPS_DIALECTS)
def env_runtime(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Runtime]:
    """An initialized database of each dialect; the environment names it and a data dir."""
    with fresh_database(request.param, tmp_path, "initialized") as url:
        monkeypatch.setenv("SCRAPER_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("SCRAPER_DATABASE_URL", url)
        rt = Runtime(Settings.from_env(poll_interval=0.05))
        yield rt
        rt.close()


def hold_job(runtime: Runtime, job_id: str, reason: str) -> JobRecord:
    """Put a job in the fallback store, as if the database had refused it with `reason`."""
    now = utcnow()
    record = JobRecord(
        id=job_id,
        query="held",
        max_content=1,
        safe_search=True,
        enabled_sources=["selftest"],
        created_at=now,
        updated_at=now,
    )
    return runtime.fallback.put(record, reason=reason)
