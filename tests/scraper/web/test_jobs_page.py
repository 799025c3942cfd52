"""The jobs page (issue 27): per-state tabs with counts, the heading counting only active jobs,
relative times with the exact one on hover, and the API request it polls to stay live."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from flask import Flask
from flask.testing import FlaskClient

from scraper.models import utcnow
from scraper.runtime import Runtime
from scraper.web.dashboard import ago
from tests.conftest import sqlite_only
from tests.plugins.web import WebUsers, run_all, signed_in, submit

XSS = "<img src=x onerror=alert(1)>"


def tab(page: str, status: str) -> re.Match[str]:
    found = re.search(rf'<a href="([^"]*)" data-status="{status}"( aria-current="page")?>'
                      rf'\w+ <span class="n">(\d+)</span></a>', page)  # fmt: skip
    assert found is not None, status
    return found


@sqlite_only
def test_each_state_has_a_tab_with_its_count_and_the_heading_counts_active_jobs(
    app: Flask, client: FlaskClient, users: WebUsers, runtime: Runtime
) -> None:
    submit(client, users.a, "done")
    run_all(runtime)
    submit(client, users.a, "waiting one")
    submit(client, users.a, "waiting two")
    submit(client, users.b, "not alice's")

    page = signed_in(app, users.a).get("/jobs?status=pending&q=waiting").text

    counts = {s: int(tab(page, s).group(3)) for s in ("", "pending", "completed", "failed")}
    assert counts == {"": 3, "pending": 2, "completed": 1, "failed": 0}
    assert tab(page, "pending").group(2) and not tab(page, "").group(2)  # the shown tab
    assert html.unescape(tab(page, "failed").group(1)) == "/jobs?q=waiting&status=failed"
    assert html.unescape(tab(page, "").group(1)) == "/jobs?q=waiting"  # other filters kept
    assert '<span class="muted" id="jobs-active">(2 active)</span>' in page


@sqlite_only
def test_the_page_names_the_api_request_that_answers_it_now(
    app: Flask, client: FlaskClient, users: WebUsers
) -> None:
    submit(client, users.a, "cats")
    viewer = signed_in(app, users.a)
    page = viewer.get("/jobs?status=pending&q=+cats+&source=&page=1").text
    live = html.unescape(re.search(r'data-endpoint="([^"]*)"', page).group(1))  # type: ignore[union-attr]

    assert urlsplit(live).path == "/api/jobs"
    assert parse_qs(urlsplit(live).query) == {
        "status": ["pending"], "q": ["cats"], "limit": ["25"], "offset": ["0"]
    }  # fmt: skip
    answer = viewer.get(live).get_json()
    assert [j["query"] for j in answer["jobs"]] == ["cats"]
    assert viewer.get("/api/job-counts").get_json() == {
        "counts": {"pending": 1, "running": 0, "completed": 0, "failed": 0, "cancelled": 0},
        "active": 1,
    }


@sqlite_only
def test_a_row_says_how_long_ago_with_the_exact_time_on_hover_and_escapes_the_query(
    app: Flask, client: FlaskClient, users: WebUsers
) -> None:
    submit(client, users.a, XSS)
    page = signed_in(app, users.a).get("/jobs").text
    time = re.search(r'<time class="job-ago" datetime="([^"]+)" title="([^"]+)">([^<]+)</time>',
                     page)  # fmt: skip
    assert time is not None
    assert time.group(3) == "just now"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", time.group(2))
    assert XSS not in page and html.escape(XSS, quote=False) in page


def test_ago_says_minutes_hours_and_days() -> None:
    now = utcnow()
    said = [ago(now - timedelta(seconds=s), now) for s in (10, 150, 3 * 3600, 5 * 86400)]
    assert said == ["just now", "3 min ago", "3 h ago", "5 d ago"]


@sqlite_only
def test_a_page_past_the_last_polls_nothing(app: Flask, users: WebUsers) -> None:
    page = signed_in(app, users.a).get("/jobs?page=9")
    assert page.status_code == 404 and "data-endpoint" not in page.text
