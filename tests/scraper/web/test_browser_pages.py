"""Issue 27 in a real browser: the live jobs list and its tabs, one message per bad field, and
nothing overflowing its card at 390 px (Debian chromium via playwright)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scraper.models import utcnow
from tests.plugins.web import LiveServer
from tests.scraper.web.test_browser import (  # noqa: F401
    browser,
    log_in,
    page,
    shot,
)
from tests.scraper.web.test_browser_ops import (  # noqa: F401
    DNS_ERROR,
    create,
    phone,
    set_job,
    wait_completed,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_the_jobs_list_updates_rows_and_tab_counts_without_a_reload(
    page: Any,  # noqa: F811
    live_server: LiveServer,
) -> None:
    from playwright.sync_api import expect

    live_server.files.gate.clear()  # the first job is claimed and waits before its first item
    first = create(live_server, live_server.users.a, "first", 2)
    log_in(page, live_server.users.a)
    page.goto("/jobs")
    page.evaluate("window.notReloaded = true")
    row = page.locator(f'#jobs-table tr[data-job-id="{first}"]')
    expect(row.locator(".job-status")).to_have_text("running")
    expect(page.locator("#jobs-active")).to_have_text("(1 active)")

    second = create(live_server, live_server.users.a, "second <b>bold</b>", 1)
    added = page.locator(f'#jobs-table tr[data-job-id="{second}"]')
    expect(added.locator(".job-query")).to_have_text("second <b>bold</b>")  # text, not HTML
    expect(page.locator('#state-tabs [data-status="pending"] .n')).to_have_text("1")
    live_server.files.gate.set()
    expect(row.locator(".job-status")).to_have_text("completed")
    expect(row.locator(".job-percent")).to_have_text("100 %")
    expect(page.locator('#state-tabs [data-status="completed"] .n')).to_have_text("2")
    expect(page.locator("#jobs-active")).to_have_text("(0 active)")
    expect(row.locator(".job-ago")).to_have_text("just now")
    assert row.locator(".job-ago").get_attribute("title").endswith(" UTC")
    assert page.evaluate("window.notReloaded") is True
    assert page.locator("#jobs-table tr[data-job-id]").count() == 2


def test_a_tab_shows_only_its_state_and_a_job_leaving_it_leaves_the_list(
    page: Any,  # noqa: F811
    live_server: LiveServer,
) -> None:
    from playwright.sync_api import expect

    live_server.files.gate.clear()
    job_id = create(live_server, live_server.users.a, "soon done", 1)
    log_in(page, live_server.users.a)
    page.goto("/jobs")
    page.click('#state-tabs [data-status="running"]')
    expect(page.locator('#state-tabs [aria-current="page"]')).to_contain_text("Running")
    expect(page.locator(f'#jobs-table tr[data-job-id="{job_id}"]')).to_have_count(1)
    live_server.files.gate.set()
    wait_completed(live_server, job_id)  # the job's own pace varies with the machine's load
    expect(page.locator("#jobs-table tr[data-job-id]")).to_have_count(0)  # the next poll
    expect(page.locator("#jobs-table .no-jobs")).to_be_visible()


def test_without_javascript_the_tabs_are_links_to_server_rendered_lists(
    browser: Any,  # noqa: F811
    live_server: LiveServer,
) -> None:
    from playwright.sync_api import expect

    job_id = create(live_server, live_server.users.a, "plain html", 1)
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto("/login")
        page.fill('input[name="username"]', live_server.users.a.name)
        page.fill('input[name="password"]', live_server.users.a.password)
        page.click('button[type="submit"]')
        page.goto("/jobs?q=plain")
        page.click('#state-tabs [data-status="cancelled"]')
        assert "q=plain" in page.url and "status=cancelled" in page.url
        expect(page.locator('#state-tabs [aria-current="page"]')).to_have_text("Cancelled 0")
        expect(page.locator("#jobs-table .no-jobs")).to_be_visible()
        page.click('#state-tabs [data-status=""]')
        expect(page.locator(f'#jobs-table tr[data-job-id="{job_id}"]')).to_have_count(1)
    finally:
        context.close()


def test_the_workers_page_shows_a_worker_taking_a_job_without_a_reload(
    page: Any,  # noqa: F811
    live_server: LiveServer,
) -> None:
    from playwright.sync_api import expect

    log_in(page, live_server.users.admin)
    page.goto("/workers")
    page.evaluate("window.notReloaded = true")
    row = page.locator(f'#workers-table tr[data-worker="{live_server.worker.id}"]')
    expect(row.locator(".w-state")).to_have_text("idle")
    live_server.files.gate.clear()  # the job is claimed and waits before its first item
    job_id = create(live_server, live_server.users.a, "held by the worker", 1)
    expect(row.locator(".w-state")).to_have_text("busy")
    expect(row.locator(f'.w-jobs a[href="/jobs/{job_id}"]')).to_have_text(job_id[:8])
    expect(row.locator(".w-beat")).to_have_text("just now")
    live_server.files.gate.set()
    expect(row.locator(".w-state")).to_have_text("idle")
    assert page.evaluate("window.notReloaded") is True


def test_two_bad_fields_show_one_plain_message_each_beside_their_field(
    page: Any,  # noqa: F811
    live_server: LiveServer,
) -> None:
    from playwright.sync_api import expect

    log_in(page, live_server.users.a)
    page.eval_on_selector("#search-form", "form => { form.noValidate = true; }")  # the server's say
    page.fill('#search-form input[name="query"]', "   ")
    page.fill('#search-form input[name="max_content"]', "99999")
    page.click('#search-form button[type="submit"]')
    expect(page.locator("#query-error")).to_have_text("This cannot be empty.")
    expect(page.locator("#max_content-error")).to_have_text("At most 500.")
    expect(page.locator("#search-form .field-error:not(:empty)")).to_have_count(2)
    expect(page.locator("#search-result")).to_be_hidden()
    expect(page.locator('input[name="max_content"]')).to_have_attribute("aria-invalid", "true")


# Read by playwright's evaluate: a list of every layout problem on the page, [] when none.
LAYOUT_PROBLEMS = (Path(__file__).parent / "layout_problems.js").read_text()


@pytest.mark.parametrize("who", ["a", "admin"])
def test_at_390_px_nothing_spills_out_of_its_card_and_no_word_is_broken(
    phone: Any,  # noqa: F811
    live_server: LiveServer,
    who: str,
) -> None:
    from playwright.sync_api import expect

    user = live_server.users[who]
    done = create(live_server, user, "a rather long query about sunsets over the harbour", 2)
    failed = create(live_server, user, "unreachable")
    log_in(phone, user)
    wait_completed(live_server, failed)
    set_job(live_server, failed, status="failed", error=DNS_ERROR, finished_at=utcnow())
    pages = {"/": "dashboard", "/jobs": "jobs", f"/jobs/{done}": "job", f"/jobs/{failed}": "failed",
             "/tokens": "tokens", "/schedules": "schedules"}  # fmt: skip
    pages |= {"/users": "users", "/workers": "workers"} if who == "admin" else {}
    problems = {}
    for path, name in pages.items():
        phone.goto(path)
        expect(phone.locator("main")).to_be_visible()
        problems[path] = phone.evaluate(LAYOUT_PROBLEMS)
        shot(phone, f"phone-{who}-{name}")
    assert problems == dict.fromkeys(pages, [])
