"""Incremental jobs against the recorded source APIs (served on 127.0.0.1): a schedule's next
job skips, before downloading, every item an earlier job of the schedule stored, by the
source's own item identity, and counts them per source as `skipped_seen`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from scraper import schedules
from scraper.config import Settings
from scraper.jobs import NewJob
from scraper.models import Base, SeenItem
from scraper.runtime import Runtime
from scraper.schedules import fire_due
from scraper.worker import Worker
from tests.plugins.http_server import HTTPTestServer
from tests.scraper.jobs.test_multi_source_job import FEED_FILES, SOURCES, STORED, serve_everything
from tests.scraper.schedules.helpers import T0, at, owner
from tests.scraper.sources.conftest import base_of


@pytest.fixture
def sources_runtime(settings: Settings, http_server: HTTPTestServer) -> Iterator[Runtime]:
    configured = settings.with_overrides(
        allow_private_networks=False,
        trusted_hosts=frozenset({"127.0.0.1"}),
        source_urls=base_of(http_server),
        host_delay=0.0,
    )
    runtime = Runtime(configured)
    Base.metadata.create_all(runtime.engine)
    yield runtime
    runtime.close()


def _schedule(runtime: Runtime, user: int, query: str, sources: tuple[str, ...]) -> int:
    spec = schedules.ScheduleSpec(
        query=query, cron="0 * * * *", max_content=20, enabled_sources=sources
    )
    return schedules.create(runtime.Session, spec, user, now=T0).schedule_id


def _tick(runtime: Runtime, now: datetime) -> Any:
    (fired,) = fire_due(runtime.Session, now=now)
    assert fired.result == "fired"
    assert Worker(runtime).run_once()
    job = runtime.store.get(fired.job_id)
    assert job is not None
    return job


def _counts(job: Any) -> dict[str, tuple[int, int, int, dict[str, int]]]:
    return {
        name: (r["found"], r["skipped_seen"], r["stored"], r["skipped"])
        for name, r in job.result["sources"].items()
    }


@pytest.mark.slow
def test_second_tick_skips_what_the_first_stored_per_source(
    sources_runtime: Runtime, http_server: HTTPTestServer
) -> None:
    serve_everything(http_server)
    sid = _schedule(sources_runtime, owner(sources_runtime.Session), "sunset", SOURCES)
    first = _tick(sources_runtime, at(11))
    assert first.status == "completed", first.message
    assert _counts(first) == {
        "openverse": (2, 0, 2, {}),
        "wikimedia": (2, 0, 1, {"duplicate_content": 1}),
        "archive": (5, 0, 4, {"unsafe_url": 1}),
        "flickr": (2, 0, 1, {"bad_content_type": 1}),
    }
    fetched = {path: len(http_server.hits(path)) for path in STORED}
    assert set(fetched.values()) == {1}
    second = _tick(sources_runtime, at(12))
    assert second.status == "completed", second.message
    # Every item stored by the first job is skipped unfetched; the Commons file whose bytes
    # matched an Openverse one was never stored as itself, so it is new to this schedule.
    assert _counts(second) == {
        "openverse": (2, 2, 0, {}),
        "wikimedia": (2, 1, 1, {}),
        "archive": (5, 4, 0, {"unsafe_url": 1}),
        "flickr": (2, 1, 0, {"bad_content_type": 1}),
    }
    assert {path: len(http_server.hits(path)) for path in STORED} == fetched
    assert "8 already seen" in (second.message or "")
    with sources_runtime.Session() as s:
        seen = s.scalar(select(func.count()).where(SeenItem.scope == f"s:{sid}"))
    assert seen == len(STORED) + 1


def test_a_feed_schedule_skips_entries_by_guid_and_file(
    sources_runtime: Runtime, http_server: HTTPTestServer
) -> None:
    serve_everything(http_server)
    feed = http_server.url("/feed.xml")
    _schedule(sources_runtime, owner(sources_runtime.Session), feed, ("feed",))
    first = _tick(sources_runtime, at(11))
    assert _counts(first) == {"feed": (3, 0, 3, {})}
    second = _tick(sources_runtime, at(12))
    assert second.status == "completed", second.message
    assert _counts(second) == {"feed": (3, 3, 0, {})}
    assert all(len(http_server.hits(path)) == 1 for path in FEED_FILES)


def test_a_one_off_incremental_job_skips_what_the_users_earlier_jobs_stored(
    sources_runtime: Runtime, http_server: HTTPTestServer
) -> None:
    serve_everything(http_server)
    user = owner(sources_runtime.Session)
    spec = NewJob(query="sunset", max_content=20, enabled_sources=("openverse",))
    plain = sources_runtime.jobs.create(spec, user_id=user)
    assert Worker(sources_runtime).run_once()
    assert sources_runtime.store.get(plain.id).result["sources"]["openverse"]["stored"] == 2
    again = sources_runtime.jobs.create(spec, user_id=user)  # not incremental: fetches again
    assert Worker(sources_runtime).run_once()
    assert sources_runtime.store.get(again.id).result["sources"]["openverse"]["skipped_seen"] == 0
    spec = NewJob(query="sunset", max_content=20, enabled_sources=("openverse",), incremental=True)
    other = sources_runtime.jobs.create(spec, user_id=owner(sources_runtime.Session, "bob"))
    mine = sources_runtime.jobs.create(spec, user_id=user)
    assert Worker(sources_runtime).run_once() and Worker(sources_runtime).run_once()
    assert _counts(sources_runtime.store.get(mine.id))["openverse"] == (2, 2, 0, {})
    assert _counts(sources_runtime.store.get(other.id))["openverse"] == (2, 0, 2, {})
