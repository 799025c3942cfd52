"""Several sources in one job: round-robin, de-duplication, per-source results, failures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from scraper.errors import SourceError
from scraper.jobs import NewJob
from scraper.models import Asset
from scraper.runtime import Runtime
from scraper.sources import MediaItem, Source, register
from scraper.sources.roundrobin import Found, SourceFailed, round_robin
from scraper.sources.selftest import make_png
from scraper.worker import Worker


def png_item(key: str, url: str | None = None, **extra: str) -> MediaItem:
    """An in-process item whose bytes derive from `key` (same key, same content)."""
    return MediaItem(
        url=url or f"test://{key}",
        mime="image/png",
        content=make_png(key),
        **extra,  # type: ignore[arg-type]
    )


@register
class AlphaSource(Source):
    name = "alpha"
    description = "Test-only: a.1, a.2, …"
    safe_search_filter = "family=true"

    def search(self, query: str, limit: int, safe_search: bool) -> Iterator[MediaItem]:
        for i in range(1, limit + 1):
            yield png_item(f"a.{i}", license="CC BY 4.0", author="Ann", landing_url="https://a/p")


@register
class BetaSource(Source):
    name = "beta"
    description = "Test-only: b.1, b.2, … and one item equal to alpha's first."

    def search(self, query: str, limit: int, safe_search: bool) -> Iterator[MediaItem]:
        yield png_item("a.1", url="test://b-copy-of-a1")  # same bytes as alpha's first
        yield png_item("a.2", url="test://a.2")  # same URL as alpha's second
        for i in range(1, limit + 1):
            yield png_item(f"b.{i}")


@register
class BrokenSource(Source):
    name = "broken"
    description = "Test-only: its API answers garbage after one item."

    def search(self, query: str, limit: int, safe_search: bool) -> Iterator[MediaItem]:
        yield png_item("broken.1")
        raise SourceError(self.name, "unexpected response: 'results' is missing")


def run_job(runtime: Runtime, sources: list[str], max_content: int, safe: bool = True):  # type: ignore[no-untyped-def]
    job = runtime.jobs.create(
        NewJob(query="q", max_content=max_content, enabled_sources=sources, safe_search=safe)
    )
    assert Worker(runtime, downloader=None).run_once()
    return runtime.store.get(job.id)


def asset_sources(runtime: Runtime, job_id: str) -> list[str]:
    with runtime.Session() as s:
        return list(
            s.scalars(select(Asset.source).where(Asset.job_id == job_id).order_by(Asset.id))
        )


def test_round_robin_takes_one_item_from_each_source_in_turn() -> None:
    streams = {"a": iter([png_item("1"), png_item("2"), png_item("3")]), "b": iter([png_item("x")])}
    order = [(r.source, r.item.url) for r in round_robin(streams) if isinstance(r, Found)]
    assert order == [
        ("a", "test://1"),
        ("b", "test://x"),
        ("a", "test://2"),
        ("a", "test://3"),
    ]


def test_round_robin_stops_pulling_once_nothing_more_is_wanted() -> None:
    pulled: list[int] = []

    def counting() -> Iterator[MediaItem]:
        for i in range(100):
            pulled.append(i)
            yield png_item(str(i))

    taken = []
    for result in round_robin({"a": counting()}):  # the caller stops pulling: so does the source
        taken.append(result)
        if len(taken) == 3:
            break
    assert len(taken) == 3 and pulled == [0, 1, 2]


def test_a_failing_source_is_reported_and_dropped_while_others_go_on() -> None:
    def failing() -> Iterator[MediaItem]:
        yield png_item("f1")
        raise SourceError("f", "boom")

    streams = {"f": failing(), "ok": iter([png_item("o1"), png_item("o2")])}
    results = list(round_robin(streams))
    assert [r.source for r in results if isinstance(r, Found)] == ["f", "ok", "ok"]
    errors = {r.source: str(r.error) for r in results if isinstance(r, SourceFailed)}
    assert errors == {"f": "f: boom"}


def test_job_interleaves_sources_and_honours_max_content_across_them(runtime: Runtime) -> None:
    done = run_job(runtime, ["alpha", "beta"], max_content=4)
    assert done.status == "completed" and done.downloaded == 4
    # alpha 1, beta's copy of alpha 1 (same bytes: skipped), alpha 2, beta's a.2 URL (skipped),
    # alpha 3, beta 1: beta is not starved although alpha alone could fill the job.
    assert asset_sources(runtime, done.id) == ["alpha", "alpha", "alpha", "beta"]
    beta = done.result["sources"]["beta"]
    assert beta["skipped"] == {"duplicate_content": 1, "duplicate_url": 1}
    assert (beta["found"], beta["stored"]) == (3, 1)
    assert done.result["sources"]["alpha"]["stored"] == 3
    assert done.result["stored"] == 4 and done.result["planned"] == 4


def test_result_says_how_safe_search_applied_per_source_and_message_admits_gaps(
    runtime: Runtime,
) -> None:
    done = run_job(runtime, ["alpha", "beta"], max_content=2)
    sources = done.result["sources"]
    assert sources["alpha"]["safe_search"] == "family=true"
    assert sources["beta"]["safe_search"].startswith("not supported")
    assert "safe search not available on beta" in done.message
    unsafe = run_job(runtime, ["alpha", "beta"], max_content=2, safe=False)
    assert unsafe.result["sources"]["beta"]["safe_search"] == "off"
    assert "safe search" not in unsafe.message


def test_license_author_and_landing_page_are_stored_with_each_asset(runtime: Runtime) -> None:
    done = run_job(runtime, ["alpha"], max_content=1)
    with runtime.Session() as s:
        asset = s.scalars(select(Asset).where(Asset.job_id == done.id)).one()
    assert (asset.license, asset.author, asset.landing_url) == ("CC BY 4.0", "Ann", "https://a/p")


def test_a_failing_source_leaves_a_partial_result_not_a_failed_job(runtime: Runtime) -> None:
    done = run_job(runtime, ["broken", "alpha"], max_content=5)
    assert done.status == "completed" and done.downloaded == 5
    broken = done.result["sources"]["broken"]
    assert broken["stored"] == 1
    assert broken["error"] == "broken: unexpected response: 'results' is missing"
    assert "failed sources: broken" in done.message


def test_job_fails_only_when_every_source_fails(runtime: Runtime) -> None:
    done = run_job(runtime, ["url"], max_content=3)  # the query "q" is no URL
    assert done.status == "failed"
    assert done.error == "NothingStored: url: scheme '(none)' is not allowed (q)"
    assert done.result["stored"] == 0
    assert done.result["sources"]["url"]["error"] == "scheme '(none)' is not allowed (q)"


@pytest.mark.parametrize("safe", [True, False])
def test_job_json_carries_the_result(runtime: Runtime, safe: bool) -> None:
    done = run_job(runtime, ["alpha"], max_content=2, safe=safe)
    data = done.to_json()
    assert data["result"]["sources"]["alpha"]["stored"] == 2
    assert data["result"]["current_source"] is None
