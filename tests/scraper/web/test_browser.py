"""The dashboard in a real browser: Debian's chromium driven by playwright, against waitress."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from scraper.jobs import JobRecord
from scraper.models import utcnow
from tests.conftest import missing_service
from tests.plugins.web import LiveServer, WebUser

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"
XSS = "<img src=x onerror=alert(1)>"
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless chromium for the module; skips (or fails in CI) when it is missing."""
    if not CHROMIUM.exists():
        missing_service(f"Debian chromium is not installed at {CHROMIUM}")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)  # assertions wait as long as actions (a loaded CI)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    yield page
    context.close()


def shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def log_in(page: Any, user: WebUser) -> None:
    page.goto("/login")
    page.fill('input[name="username"]', user.name)
    page.fill('input[name="password"]', user.password)
    page.click('button[type="submit"]')
    page.wait_for_selector("#search-form")


def search(page: Any, query: str, items: int) -> None:
    page.fill('#search-form input[name="query"]', query)
    page.fill('#search-form input[name="max_content"]', str(items))
    page.click('#search-form button[type="submit"]')
    page.wait_for_selector("#search-result:not([hidden])")


def bar_value(page: Any) -> int:
    value: int = page.eval_on_selector("#active-list .job-bar", "el => el.value")
    return value


def test_a_search_is_one_active_download_whose_bar_reaches_100_and_whose_assets_show(
    page: Any, live_server: LiveServer
) -> None:
    from playwright.sync_api import expect

    log_in(page, live_server.users.a)
    expect(page.locator("#active-count")).to_have_text("0 active downloads")
    live_server.files.gate.clear()  # the worker claims the job but waits before its first item
    search(page, "sunset", 8)
    expect(page.locator("#search-result")).to_contain_text("created")
    expect(page.locator("#active-count")).to_have_text("1 active download")
    row = page.locator("#active-list .job-row")
    expect(row).to_have_count(1)
    expect(row.locator(".job-query")).to_have_text("sunset")
    expect(row.locator(".job-status")).to_have_text("running")
    live_server.files.delay = 0.6  # 8 items over ~5 s: polls see the bar on its way
    live_server.files.gate.set()
    page.wait_for_function("() => document.querySelector('#active-list .job-bar').value >= 25")
    assert bar_value(page) < 100
    shot(page, "dashboard-active")
    page.wait_for_function("() => document.querySelector('#active-list .job-bar').value === 100")
    expect(row.locator(".job-status")).to_have_text("completed")
    expect(row.locator(".job-items")).to_have_text("8 / 8 items")
    expect(page.locator("#active-count")).to_have_text("0 active downloads")
    recent = page.locator("#recent tbody tr[data-job-id]")
    expect(recent).to_have_count(1)  # joined the table live, without a reload
    expect(recent.locator(".job-status")).to_have_text("completed")
    shot(page, "dashboard-finished")
    row.locator(".job-query").click()
    images = page.locator("#assets img")
    expect(images).to_have_count(8)
    loaded = "i => i.complete && i.naturalWidth > 0"
    page.wait_for_function(f"() => [...document.querySelectorAll('#assets img')].every({loaded})")
    expect(page.locator(".job-status")).to_have_text("completed")
    shot(page, "job-page")


def code_contrast(page: Any, selector: str) -> float:
    """WCAG contrast of the element's text on its background (a translucent one laid over its
    parent's)."""
    colours = page.eval_on_selector(
        selector,
        """el => [getComputedStyle(el).color, getComputedStyle(el).backgroundColor,
                  getComputedStyle(el.parentElement.closest('.banner')).backgroundColor]""",
    )
    text_rgb, own, parent = ([float(x) for x in re.findall(r"[\d.]+", c)] + [1.0] for c in colours)
    alpha = own[3]
    back = [own[i] * alpha + parent[i] * (1 - alpha) for i in range(3)]

    def luminance(rgb: list[float]) -> float:
        lin = [
            (c / 255 / 12.92) if c <= 10.31 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb[:3]
        ]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    light, dark = sorted((luminance(text_rgb), luminance(back)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_schema_drift_and_fallback_jobs_raise_the_red_banner(
    page: Any, live_server: LiveServer
) -> None:
    from playwright.sync_api import expect

    log_in(page, live_server.users.a)
    banner = page.locator("#banner")
    expect(banner).to_be_hidden()
    with live_server.runtime.engine.begin() as conn:
        conn.execute(text("ALTER TABLE api_tokens DROP COLUMN last_used_at"))
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("schema is out of sync")
    expect(banner.locator("code")).to_have_text("ops doctor")  # the poll's line, as code
    expect(banner).not_to_contain_text("`")
    assert code_contrast(page, "#banner code") >= 4.5  # white on light grey was unreadable
    now = utcnow()
    held = JobRecord(
        id="held-browser", query="held", max_content=1, safe_search=True,
        enabled_sources=["selftest"], user_id=live_server.users.a.id,
        created_at=now, updated_at=now,
    )  # fmt: skip
    live_server.runtime.fallback.put(held, reason="test")
    expect(banner).to_contain_text("1 job is held in the fallback store")
    expect(page.locator("#active-list .job-storage").first).to_be_visible()
    assert page.eval_on_selector("#banner", "el => getComputedStyle(el).backgroundColor") == (
        "rgb(220, 38, 38)"
    )
    shot(page, "dashboard-banner")


def test_a_script_query_shows_as_text(page: Any, live_server: LiveServer) -> None:
    from playwright.sync_api import expect

    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    log_in(page, live_server.users.a)
    search(page, XSS, 1)
    expect(page.locator("#active-list .job-query, #recent .job-query").first).to_be_visible()
    page.reload()
    expect(page.locator("#recent a", has_text=XSS)).to_have_count(1)
    page.locator("#recent a", has_text=XSS).click()
    expect(page.locator("h1.job-query")).to_have_text(XSS)
    assert page.locator('img[src="x"]').count() == 0
    assert dialogs == []
    shot(page, "xss-as-text")


def test_polling_pauses_while_the_tab_is_hidden(page: Any, live_server: LiveServer) -> None:
    polls: list[float] = []

    def on_request(request: Any) -> None:
        if "/api/dashboard" in request.url:
            polls.append(time.monotonic())

    page.on("request", on_request)
    log_in(page, live_server.users.a)
    page.wait_for_timeout(3500)
    assert len(polls) >= 2  # every 1.5 s while visible
    page.evaluate(
        """() => {
        Object.defineProperty(document, 'hidden', {configurable: true, get: () => true});
        document.dispatchEvent(new Event('visibilitychange'));
    }"""
    )
    page.wait_for_timeout(500)  # let a request already in flight land
    before = len(polls)
    page.wait_for_timeout(4000)
    assert len(polls) == before
    page.evaluate(
        """() => {
        Object.defineProperty(document, 'hidden', {configurable: true, get: () => false});
        document.dispatchEvent(new Event('visibilitychange'));
    }"""
    )
    page.wait_for_timeout(2000)
    assert len(polls) > before


PAGES = ("/", "/jobs", "/workers", "/schedules", "/users", "/tokens", "/api/docs")


def test_no_page_asks_anything_of_another_origin(page: Any, live_server: LiveServer) -> None:
    """Every page an admin sees (and the sign-in form) loads only from the server: no CDN, not
    even one the CSP would block (Redoc's bundle shows a logo from cdn.redoc.ly unless patched)."""
    elsewhere: list[str] = []
    refused: list[str] = []
    page.on(
        "request",
        lambda r: (
            None
            if r.url.startswith((live_server.url, "data:", "blob:"))
            else elsewhere.append(r.url)
        ),
    )
    page.on("console", lambda m: refused.append(m.text) if "Refused to" in m.text else None)
    page.goto("/login")
    log_in(page, live_server.users.admin)
    for path in PAGES:
        page.goto(path)
        page.wait_for_load_state("networkidle")
    page.wait_for_selector("[role=menu]")  # Redoc rendered, its side menu and footer with it
    page.wait_for_timeout(500)
    assert elsewhere == [] and refused == [], (elsewhere, refused)
