"""The seen-items memory on every dialect: scopes, duplicates ignored, a job's own items."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from scraper.models import SeenItem
from scraper.runtime import Runtime
from scraper.schedules.seen import SeenItems, item_key
from scraper.sources import MediaItem
from tests.scraper.schedules.helpers import hourly, owner


@dataclass
class Job:
    id: str
    user_id: int | None
    schedule_id: int | None
    incremental: bool


PIER = MediaItem(url="https://cdn.example/pier.jpg", item_id="4bc43a04")
SKY = MediaItem(url="https://cdn.example/sky.png")


def test_items_are_known_by_source_identity_within_their_scope(runtime: Runtime) -> None:
    user = owner(runtime.Session)
    sid = hourly(runtime.Session, user)
    first = SeenItems.for_job(runtime.Session, Job("job-1", user, sid, True))
    assert (first.lookup, [s for s, _ in first.record]) == (f"s:{sid}", [f"u:{user}", f"s:{sid}"])
    assert not first.seen("openverse", PIER)
    first.remember([("openverse", PIER), ("openverse", SKY)])
    first.remember([("openverse", PIER)])  # already known: left as it is, no error
    with runtime.Session() as s:
        assert s.scalar(select(func.count()).select_from(SeenItem)) == 4
    second = SeenItems.for_job(runtime.Session, Job("job-2", user, sid, True))
    moved = MediaItem(url="https://other-cdn.example/pier.jpg", item_id="4bc43a04")
    assert second.seen("openverse", moved)  # the same Openverse id at another URL
    assert second.seen("openverse", SKY) and not second.seen("wikimedia", SKY)
    assert not first.seen("openverse", PIER)  # its own earlier attempt: not "seen"
    one_off = SeenItems.for_job(runtime.Session, Job("job-3", user, None, True))
    assert one_off.lookup == f"u:{user}" and one_off.seen("openverse", PIER)
    stranger = SeenItems.for_job(
        runtime.Session, Job("job-4", owner(runtime.Session, "bob"), None, True)
    )
    assert not stranger.seen("openverse", PIER)
    plain = SeenItems.for_job(runtime.Session, Job("job-5", user, None, False))
    assert plain.lookup is None and not plain.seen("openverse", PIER)
    assert item_key(PIER) == "4bc43a04" and item_key(SKY) == SKY.url
