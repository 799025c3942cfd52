"""Issue 27 in a real browser: Delete asks first and removes the job; an outage never leaves
the Health panel green under the red banner, and a busy server (issue 28) is no outage
(Debian chromium via playwright)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from scraper.web.fairness import slots
from tests.plugins.web import LiveServer
from tests.scraper.web.test_browser import (  # noqa: F401
    browser,
    log_in,
    page,
    shot,
)
from tests.scraper.web.test_browser_ops import create
from tests.scraper.web.test_database_unavailable import cut_database

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_delete_asks_first_then_removes_the_job_and_download_all_is_offered(
    page: Any,  # noqa: F811
    live_server: LiveServer,
) -> None:
    from playwright.sync_api import expect

    job_id = create(live_server, live_server.users.a, "to be deleted", 1)
    log_in(page, live_server.users.a)
    page.goto(f"/jobs/{job_id}")
    expect(page.locator(".job-status")).to_have_text("completed")
    expect(page.locator("#archive-link")).to_contain_text("Download all (1 file, zip)")
    answers: list[bool] = [False, True]
    questions: list[str] = []

    def reply(dialog: Any) -> None:
        questions.append(dialog.message)
        dialog.accept() if answers.pop(0) else dialog.dismiss()

    page.on("dialog", reply)
    page.click("#delete-button")  # dismissed: nothing happens
    expect(page.locator(".job-status")).to_have_text("completed")
    page.click("#delete-button")
    expect(page.locator(".flash-info")).to_contain_text("Job deleted (1 asset(s), 1 file(s)")
    assert len(questions) == 2 and "cannot be undone" in questions[0]
    assert page.url.rstrip("/") == live_server.url
    assert list(live_server.runtime.files.keys()) == []


def test_an_outage_turns_the_health_panels_database_line_red(
    page: Any,  # noqa: F811
    live_server: LiveServer,
) -> None:
    from playwright.sync_api import expect

    log_in(page, live_server.users.a)
    database = page.locator("#health li", has=page.locator('b[title="database:connection"]'))
    expect(database).to_have_class("h-pass")
    saved = dict(live_server.runtime.__dict__)
    cut_database(live_server.runtime)  # every read of the database now fails
    try:
        expect(page.locator("#outage")).to_be_visible()
        expect(database).to_have_class("h-fail")
        expect(database).to_contain_text("The database cannot be reached")
        others = page.locator("#health li.h-pass:not(.h-stale)")
        expect(others).to_have_count(0)
        shot(page, "health-under-outage")
    finally:
        live_server.runtime.__dict__.update(saved)
    expect(page.locator("#outage")).to_be_hidden()


def test_a_busy_server_is_not_shown_as_a_database_outage(
    page: Any,  # noqa: F811
    live_server: LiveServer,
) -> None:
    """Every read slot taken: the activity chart's read is 503 `server_busy`; the dashboard
    says nothing of the database, and the next load draws the chart."""
    from playwright.sync_api import expect

    drawn = re.compile(r"^[1-9]\d*$")
    log_in(page, live_server.users.a)
    expect(page.locator("#activity")).to_have_attribute("data-drawn", drawn)  # its read is done
    with live_server.app.app_context():
        reads = slots()
    others = range(-reads.total, 0)  # reads of other users, in flight
    for user_id in others:
        reads.acquire(user_id)
    try:
        with page.expect_response(lambda r: "/api/stats" in r.url) as answer:
            page.goto("/")
        assert answer.value.status == 503  # `server_busy`: no slot was free
        page.wait_for_timeout(300)  # the answer is handled
        expect(page.locator("#outage")).to_have_count(0)
        database = page.locator("#health li", has=page.locator('b[title="database:connection"]'))
        expect(database).to_have_class("h-pass")
    finally:
        for user_id in others:
            reads.release(user_id)
    page.goto("/")
    expect(page.locator("#activity")).to_have_attribute("data-drawn", drawn)
