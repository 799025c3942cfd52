"""Issue 15 in a real browser: drift, search + bulk retry, workers, charts, readable errors,
server-side sign-out and the 390 px layout (Debian chromium via playwright)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text, update

from scraper.models import JobStatus, ScrapeJob, utcnow
from tests.plugins.waiting import wait_until
from tests.plugins.web import LiveServer, WebUser
from tests.scraper.web.test_browser import (  # noqa: F401
    TIMEOUT_MS,
    browser,
    log_in,
    page,
    search,
    shot,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SEARCH = "/api/comprehensive-search"
DNS_ERROR = (
    "NothingStored: openverse: HTTPSConnectionPool(host='api.openverse.org', port=443): Max "
    'retries exceeded with url: /v1/images/?q=fox (Caused by NameResolutionError("<urllib3.'
    "connection.HTTPSConnection object at 0x7f>: Failed to resolve 'api.openverse.org' ([Errno "
    '-3] Temporary failure in name resolution)"))'
)


def create(live: LiveServer, user: WebUser, query: str, items: int = 1) -> str:
    """A selftest job through the API, as `user`; its id."""
    import requests

    body = {"query": query, "max_content": items, "enabled_sources": ["selftest"]}
    reply = requests.post(live.url + SEARCH, json=body, headers=user.headers, timeout=10)
    assert reply.status_code == 201, reply.text
    job_id: str = reply.json()["job_id"]
    return job_id


def wait_completed(live: LiveServer, job_id: str, timeout: float = 30.0) -> None:
    """Until the database holds the job completed. (Not `page.wait_for_function` over a
    `fetch()`: the Promise it returns is truthy at once, so that never waited.)"""
    wait_until(
        lambda: live.runtime.jobs.get(job_id).status == JobStatus.COMPLETED,
        timeout,
        f"job {job_id} to complete",
    )


def set_job(live: LiveServer, job_id: str, **values: Any) -> None:
    with live.runtime.Session() as s, s.begin():
        s.execute(update(ScrapeJob).where(ScrapeJob.id == job_id).values(**values))


@pytest.fixture
def phone(browser: Any, live_server: LiveServer) -> Iterator[Any]:  # noqa: F811
    """A page 390 px wide, like a phone."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844})
    context.set_default_timeout(TIMEOUT_MS)
    yield context.new_page()
    context.close()


def test_under_drift_every_database_job_and_the_fallback_one_are_listed(
    page: Any,  # noqa: F811
    live_server: LiveServer,
) -> None:
    from playwright.sync_api import expect

    ids = [create(live_server, live_server.users.a, f"before drift {n}") for n in range(3)]
    live_server.worker.stop(timeout=10)
    with live_server.runtime.engine.begin() as conn:
        conn.execute(text("ALTER TABLE scrape_jobs DROP COLUMN updated_at"))
    held = create(live_server, live_server.users.a, "after drift")
    log_in(page, live_server.users.a)
    for job_id in [*ids, held]:
        expect(page.locator(f'#recent tr[data-job-id="{job_id}"]')).to_have_count(1)
    expect(page.locator("#recent-total")).to_have_text("4")
    expect(page.locator(f'#recent tr[data-job-id="{held}"] .job-storage')).to_be_visible()
    expect(page.locator("#banner")).to_contain_text("held in the fallback store")
    expect(page.get_by_text("lacks column(s) updated_at")).to_be_visible()
    page.goto("/jobs")
    expect(page.locator("#jobs-table tr[data-job-id]")).to_have_count(4)
    shot(page, "drift-jobs-list")


def test_search_filter_and_bulk_retry(page: Any, live_server: LiveServer) -> None:  # noqa: F811
    from playwright.sync_api import expect

    live_server.worker.stop(timeout=10)  # the retried jobs stay pending where we can see them
    foxes = [create(live_server, live_server.users.a, f"red fox {n}") for n in range(3)]
    other = create(live_server, live_server.users.a, "blue whale")
    for job_id in [*foxes, other]:
        set_job(live_server, job_id, status="failed", error=DNS_ERROR, finished_at=utcnow())
    log_in(page, live_server.users.a)
    page.goto("/jobs")
    page.fill('#job-filters input[name="q"]', "fox")
    page.select_option('#job-filters select[name="status"]', "failed")
    page.click('#job-filters button[type="submit"]')
    rows = page.locator("#jobs-table tr[data-job-id]")
    expect(rows).to_have_count(3)
    expect(rows.first.locator(".job-error")).to_have_text("Can't resolve api.openverse.org")
    page.check("#scope-filtered")
    page.click("#bulk-retry")
    expect(page.locator(".flash-info")).to_contain_text("3 job(s) queued again, 0 refused")
    expect(page.locator("#jobs-table tr[data-job-id]")).to_have_count(0)  # none failed now
    statuses = {j: live_server.runtime.jobs.get(j).status for j in [*foxes, other]}
    assert statuses == {**dict.fromkeys(foxes, "pending"), other: "failed"}
    page.goto(f"/jobs/{foxes[0]}")
    expect(page.locator("#attempts tbody tr")).to_have_count(1)
    expect(page.locator("#attempts")).to_contain_text("Can't resolve api.openverse.org")


def test_a_url_search_without_a_url_is_refused_in_red_beside_the_query(
    page: Any,  # noqa: F811
    live_server: LiveServer,
) -> None:
    from playwright.sync_api import expect

    log_in(page, live_server.users.a)
    page.uncheck('#search-form input[value="selftest"]')
    page.check('#search-form input[value="url"]')
    page.fill('#search-form input[name="query"]', "cats")
    page.click('#search-form button[type="submit"]')
    error = page.locator("#query-error")
    expect(error).to_have_text(re.compile(r"^The url source needs an http\(s\) URL"))
    assert error.evaluate("e => getComputedStyle(e).color") == "rgb(220, 38, 38)"
    expect(page.locator('#search-form input[name="query"]')).to_have_attribute(
        "aria-invalid", "true"
    )
    expect(page.locator('#search-form input[name="query"]')).to_have_value("cats")
    expect(page.locator("#search-result")).to_be_hidden()
    page.check('#search-form input[value="selftest"]')
    page.uncheck('#search-form input[value="url"]')
    search(page, "cats", 2)
    expect(page.locator("#search-result")).to_contain_text("created")
    expect(error).to_be_empty()
    expect(error).to_be_hidden()


def test_workers_page_shows_the_worker_and_its_state(
    page: Any,  # noqa: F811
    live_server: LiveServer,
) -> None:
    from playwright.sync_api import expect

    log_in(page, live_server.users.admin)
    page.click("text=Workers")
    row = page.locator(f'#workers-table tr[data-worker="{live_server.worker.id}"]')
    expect(row).to_have_count(1)
    expect(row.locator(".badge")).to_have_text("idle")
    shot(page, "workers")


def test_a_chart_is_drawn_from_stats_and_a_failed_job_reads_plainly(
    page: Any,  # noqa: F811
    live_server: LiveServer,
) -> None:
    from playwright.sync_api import expect

    done = create(live_server, live_server.users.a, "charted", 3)
    log_in(page, live_server.users.a)
    wait_completed(live_server, done)
    page.reload()
    expect(page.locator("#chart-jobs canvas")).to_have_count(1)
    expect(page.locator("#chart-files canvas")).to_have_count(1)
    expect(page.locator("#source-stats tbody")).to_contain_text("selftest")
    assert page.eval_on_selector("#activity", "el => el.dataset.drawn") == "24"  # last day
    live_server.files.gate.clear()  # the next job is claimed and waits before its first item
    create(live_server, live_server.users.a, "sunset over the bay", 8)
    expect(page.locator("#active-count")).to_have_text("1 active download")
    expect(page.locator("#active-list .job-message")).to_contain_text("selftest")
    shot(page, "dashboard")
    live_server.files.gate.set()
    failed = create(live_server, live_server.users.a, "unreachable source")
    wait_completed(live_server, failed)
    set_job(live_server, failed, status=JobStatus.FAILED.value, error=DNS_ERROR)
    page.goto(f"/jobs/{failed}")
    expect(page.locator("#job-error .error-summary")).to_have_text(
        "Can't resolve api.openverse.org"
    )
    raw = page.locator("#job-error details pre")
    expect(raw).to_be_hidden()  # collapsed until asked for
    page.click("#job-error summary")
    expect(raw).to_be_visible()
    assert "NameResolutionError" not in page.inner_text("#job-error .error-summary")
    page.goto(f"/jobs/{done}")
    shot(page, "job")


def test_sign_out_invalidates_a_saved_cookie(
    browser: Any,  # noqa: F811
    page: Any,  # noqa: F811
    live_server: LiveServer,
) -> None:
    from playwright.sync_api import expect

    log_in(page, live_server.users.a)
    saved = page.context.cookies()
    page.click("#sign-out")
    expect(page.locator(".flash-info")).to_contain_text("Signed out")
    replay = browser.new_context(base_url=live_server.url)
    try:
        replay.add_cookies(saved)
        other = replay.new_page()
        other.goto("/")
        assert "/login" in other.url
        expect(other.locator('input[name="password"]')).to_be_visible()
    finally:
        replay.close()


def test_390_px_layout_has_no_horizontal_scroll(phone: Any, live_server: LiveServer) -> None:
    from playwright.sync_api import expect

    job_id = create(live_server, live_server.users.a, "a rather long query " * 6)
    set_job(live_server, job_id, status="failed", error=DNS_ERROR, finished_at=utcnow())
    log_in(phone, live_server.users.a)
    for path in ("/", "/jobs", f"/jobs/{job_id}", "/jobs?page=999"):
        phone.goto(path)
        expect(phone.locator("main")).to_be_visible()
        width = phone.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 390, (path, width)
    shot(phone, "phone-dashboard")
