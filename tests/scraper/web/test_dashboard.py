"""The dashboard pages and their JSON state, through the Flask test client."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import text

from scraper.jobs import JobRecord
from scraper.models import utcnow
from scraper.runtime import Runtime
from scraper.web.schemas import plain_words
from scraper.worker import Worker
from tests.conftest import sqlite_only
from tests.plugins.web import WebUsers

Login = Callable[[str], FlaskClient]
XSS = "<img src=x onerror=alert(1)>"
ROW = re.compile(r'<tr data-job-id="([^"]+)"')


def submit(client: FlaskClient, users: WebUsers, query: str = "cats", who: str = "a") -> str:
    body = {"query": query, "max_content": 2, "enabled_sources": ["selftest"]}
    response = client.post("/api/comprehensive-search", json=body, headers=users[who].headers)
    assert response.status_code == 201
    job_id: str = response.get_json()["job_id"]
    return job_id


def hold(runtime: Runtime, user_id: int) -> None:
    now = utcnow()
    record = JobRecord(
        id="held-1", query="held", max_content=1, safe_search=True,
        enabled_sources=["selftest"], user_id=user_id, created_at=now, updated_at=now,
    )  # fmt: skip
    runtime.fallback.put(record, reason="test")


@sqlite_only
def test_index_shows_the_search_form_with_safe_search_on_and_every_source(
    login_as: Login,
) -> None:
    response = login_as("a").get("/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'name="safe_search" value="1" checked' in html
    assert 'name="enabled_sources" value="selftest" checked' in html
    assert 'name="enabled_sources" value="url"' in html
    assert "0 active downloads" in html
    assert 'id="banner" class="banner" role="alert" hidden' in html
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


@sqlite_only
def test_the_search_form_creates_a_job_and_it_shows_as_one_active_download(
    login_as: Login, users: WebUsers
) -> None:
    client = login_as("a")
    form = {"query": "foxes", "max_content": "4", "enabled_sources": "selftest"}
    response = client.post("/search", data=form)
    assert response.status_code == 302
    html = client.get("/").get_data(as_text=True)
    assert "1 active download<" in html and "foxes" in html
    job = client.get("/api/jobs", headers=users.a.headers).get_json()["jobs"][0]
    assert job["max_content"] == 4 and job["safe_search"] is False  # the box was not sent


@sqlite_only
@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"query": "", "max_content": "3", "enabled_sources": "selftest"}, "query"),
        ({"query": "x", "max_content": "9999", "enabled_sources": "selftest"}, "max_content"),
        ({"query": "x", "max_content": "three", "enabled_sources": "selftest"}, "max_content"),
        ({"query": "x", "max_content": "3"}, "enabled_sources"),
        ({"query": "x", "max_content": "3", "enabled_sources": "evil"}, "enabled_sources"),
    ],
)
def test_an_invalid_search_form_says_which_field_and_creates_nothing(
    login_as: Login, users: WebUsers, form: dict[str, str], field: str
) -> None:
    client = login_as("a")
    response = client.post("/search", data=form)
    assert response.status_code == 400
    assert field in response.get_data(as_text=True)
    assert client.get("/api/jobs", headers=users.a.headers).get_json()["total"] == 0


FIELD_ERROR = (
    '<span class="field-error" id="{0}-error" data-error-for="{0}" role="alert">{1}</span>'
)


@sqlite_only
@pytest.mark.parametrize(
    ("form", "field", "text"),
    [
        ({"query": "x", "max_content": "three", "enabled_sources": "selftest"}, "max_content",
         "Enter a whole number."),
        ({"query": "x", "max_content": "3", "enabled_sources": "evil"}, "enabled_sources",
         "Unknown source &#39;evil&#39;"),
    ],
)  # fmt: skip
def test_a_form_error_shows_in_red_beside_its_field(
    login_as: Login, form: dict[str, str], field: str, text: str
) -> None:
    html = login_as("a").post("/search", data=form).get_data(as_text=True)
    slot = re.search(FIELD_ERROR.format(field, "([^<]*)"), html)
    assert slot is not None and slot.group(1).startswith(text)
    others = {"query", "max_content", "safe_search", "enabled_sources"} - {field}
    assert all(FIELD_ERROR.format(name, "") in html for name in others)  # empty: hidden
    assert 'class="flash flash-error"' not in html  # said beside the field, not in a flash
    css = login_as("a").get("/static/style.css").get_data(as_text=True)
    assert re.search(r"\.field-error \{[^}]*color: var\(--bad\)", css)


@sqlite_only
def test_two_bad_fields_get_one_plain_message_each_beside_its_own_field(
    login_as: Login, users: WebUsers
) -> None:
    form = {"query": "   ", "max_content": "99999", "enabled_sources": "selftest"}
    html = login_as("a").post("/search", data=form).get_data(as_text=True)
    assert FIELD_ERROR.format("query", "This cannot be empty.") in html
    assert FIELD_ERROR.format("max_content", "At most 500.") in html
    assert html.count("This cannot be empty.") == 1 and "should" not in html
    body = {"query": "   ", "max_content": 99999, "enabled_sources": ["selftest"]}
    fields = login_as("a").post("/api/comprehensive-search", json=body).get_json()["fields"]
    assert fields == {"query": "This cannot be empty.", "max_content": "At most 500."}


@sqlite_only
def test_the_schedule_form_shows_each_bad_field_beside_itself(login_as: Login) -> None:
    form = {"query": " ", "cron": "@daily", "max_content": "0", "enabled_sources": "selftest"}
    html = login_as("a").post("/schedules", data=form).get_data(as_text=True)
    assert FIELD_ERROR.format("query", "This cannot be empty.") in html
    assert FIELD_ERROR.format("max_content", "At least 1.") in html


@sqlite_only
def test_a_url_source_with_no_url_keeps_the_values_and_names_the_query_field(
    login_as: Login, users: WebUsers
) -> None:
    client = login_as("a")
    form = {"query": XSS, "max_content": "7", "enabled_sources": ["url", "archive"]}
    response = client.post("/search", data=form)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    query_input = re.search(r'<input name="query"[^>]*>', html)
    assert query_input is not None
    assert 'sunsets" aria-describedby="query-error"' in query_input.group(0)
    assert 'value="&lt;img src=x onerror=alert(1)&gt;"' in query_input.group(0)
    assert 'aria-describedby="query-error" aria-invalid="true"' in query_input.group(0)
    error = FIELD_ERROR.format(
        "query", "The url source needs an http(s) URL as its query: "
        "scheme &#39;(none)&#39; is not allowed."
    )  # fmt: skip
    assert error in html[query_input.end() :].split("</label>")[0]  # beside the input
    assert XSS not in html
    assert 'value="7"' in html and 'name="safe_search" value="1">' in html  # box stays off
    assert 'value="url" checked' in html and 'value="archive" checked' in html
    assert 'value="selftest" checked' not in html
    assert client.get("/api/jobs", headers=users.a.headers).get_json()["total"] == 0


@sqlite_only
def test_a_script_query_shows_as_text_everywhere(login_as: Login, users: WebUsers) -> None:
    client = login_as("a")
    job_id = submit(client, users, XSS)
    for path in ("/", f"/jobs/{job_id}"):
        html = client.get(path).get_data(as_text=True)
        assert XSS not in html
        assert "&lt;img src=x onerror=alert(1)&gt;" in html


@sqlite_only
@pytest.mark.slow
def test_recent_jobs_are_paged_and_filtered(login_as: Login, users: WebUsers) -> None:
    client = login_as("a")
    ids = [submit(client, users, f"job {i}") for i in range(23)]
    client.post(f"/api/jobs/{ids[0]}/cancel", headers=users.a.headers)
    first = client.get("/").get_data(as_text=True)
    assert "Page 1 of 2" in first and len(ROW.findall(first)) == 20
    second = client.get("/?page=2").get_data(as_text=True)
    assert len(ROW.findall(second)) == 3
    cancelled = client.get("/?status=cancelled").get_data(as_text=True)
    assert ROW.findall(cancelled) == [ids[0]]


@sqlite_only
def test_the_job_page_shows_assets_as_thumbnails_with_links(
    login_as: Login, users: WebUsers, runtime: Runtime
) -> None:
    client = login_as("a")
    job_id = submit(client, users, "owls")
    Worker(runtime).run_once()
    html = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert "completed" in html and 'Assets <span class="muted">(2)</span>' in html
    assert html.count('<img src="/api/assets/') == 2
    assert "?download=1" in html and "CC0-1.0" in html
    assert 'id="retry-button"' not in html and 'id="cancel-button"' not in html


@sqlite_only
def test_the_job_page_shows_per_source_results_and_credits_escaped(
    login_as: Login, users: WebUsers, runtime: Runtime
) -> None:
    client = login_as("a")
    job_id = submit(client, users, "owls")
    Worker(runtime).run_once()
    with runtime.engine.begin() as conn:
        conn.execute(
            text("UPDATE assets SET author = :a, landing_url = :bad WHERE job_id = :j"),
            {"a": XSS, "bad": "javascript:alert(1)", "j": job_id},
        )
        conn.execute(
            text("UPDATE assets SET landing_url = :ok WHERE id = (SELECT MIN(id) FROM assets)"),
            {"ok": "https://commons.example/File:Owl.png"},
        )
    html = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    row = re.search(r'<tr data-source="selftest">(.*?)</tr>', html, re.S)
    assert row is not None
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)
    assert [c.strip() for c in cells[:3]] == ["selftest", "2", "2"]
    assert "not supported by this source" in row.group(1)
    assert XSS not in html and 'by <span class="asset-author">&lt;img' in html
    assert html.count('class="asset-landing" href="https://commons.example/File:Owl.png"') == 1
    assert "javascript:alert" not in html


@sqlite_only
@pytest.mark.parametrize(
    "result",
    [
        # an older version's record: no bytes, no skipped, no problems
        {"sources": {"selftest": {"found": 3, "stored": 2, "error": None}}},
        {"sources": {"selftest": {"found": 3, "stored": 2, "skipped": ["odd"]}}},
        {"sources": ["selftest"]},
        ["not", "a", "report"],
    ],
)
def test_the_job_page_shows_a_result_recorded_in_another_shape(
    login_as: Login, users: WebUsers, runtime: Runtime, result: Any
) -> None:
    """Months of history hold jobs finished by older versions: their page still renders."""
    client = login_as("a")
    job_id = submit(client, users)
    with runtime.engine.begin() as conn:
        conn.execute(
            text("UPDATE scrape_jobs SET result = :r, status = 'completed' WHERE id = :j"),
            {"r": json.dumps(result), "j": job_id},
        )
    response = client.get(f"/jobs/{job_id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    row = re.search(r'<tr data-source="selftest">(.*?)</tr>', html, re.S)
    if isinstance(result, dict) and isinstance(result["sources"], dict):
        assert row is not None
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)
        assert [c.strip() for c in cells[:4]] == ["selftest", "3", "2", "0 B"]
    else:
        assert row is None and 'id="job-sources"' not in html


@sqlite_only
def test_job_page_of_another_user_is_404_and_admin_sees_it(
    login_as: Login, users: WebUsers
) -> None:
    job_id = submit(login_as("a"), users)
    assert login_as("b").get(f"/jobs/{job_id}").status_code == 404
    assert login_as("admin").get(f"/jobs/{job_id}").status_code == 200
    assert login_as("b").post(f"/jobs/{job_id}/cancel").status_code == 404


@sqlite_only
def test_cancel_and_retry_buttons_act_on_the_job(login_as: Login, users: WebUsers) -> None:
    client = login_as("a")
    job_id = submit(client, users)
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert 'id="cancel-button"' in page
    assert client.post(f"/jobs/{job_id}/cancel").status_code == 302
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert "Job cancelled." in page and 'id="retry-button"' in page
    client.post(f"/jobs/{job_id}/retry")
    assert client.get(f"/api/jobs/{job_id}", headers=users.a.headers).get_json()["status"] == (
        "pending"
    )
    again = client.post(f"/jobs/{job_id}/retry", follow_redirects=True)
    assert "only failed or cancelled jobs can be retried" in again.get_data(as_text=True)


@sqlite_only
def test_a_failed_job_shows_its_error(login_as: Login, users: WebUsers, runtime: Runtime) -> None:
    client = login_as("a")
    job_id = submit(client, users)
    claimed = runtime.store.claim("w1", 30)
    assert claimed is not None
    runtime.store.fail(job_id, "w1", "RuntimeError: <b>boom</b>")
    html = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert 'id="job-error"' in html and "RuntimeError: &lt;b&gt;boom&lt;/b&gt;" in html


def test_dashboard_state_lists_active_jobs_and_health(login_as: Login, users: WebUsers) -> None:
    client = login_as("a")
    job_id = submit(client, users)
    submit(client, users, who="b")
    state = client.get("/api/dashboard").get_json()
    assert state["active_total"] == 1 and [j["job_id"] for j in state["active"]] == [job_id]
    assert state["banner"] == [] and state["fallback_jobs"] == 0
    assert state["schema"]["in_sync"] is True
    names = {h["name"]: h["status"] for h in state["health"]}
    assert names["database:connection"] == "pass" and names["schema:in_sync"] == "pass"
    assert names["fallback:jobs"] == "pass" and names["storage:writable"] == "pass"
    assert names["worker:heartbeat"] == "warn"  # no worker runs in this test
    assert login_as("admin").get("/api/dashboard").get_json()["active_total"] == 2


def test_banner_counts_fallback_jobs(login_as: Login, users: WebUsers, runtime: Runtime) -> None:
    hold(runtime, users.a.id)
    client = login_as("b")  # the banner is about the system, whoever looks
    state = client.get("/api/dashboard").get_json()
    assert state["fallback_jobs"] == 1
    assert "1 job is held in the fallback" in state["banner"][0]
    assert "ops doctor" in state["banner"][0]
    html = client.get("/").get_data(as_text=True)
    assert "1 job is held in the fallback" in html
    assert 'id="banner" class="banner" role="alert">' in html


@pytest.mark.slow
def test_banner_reports_schema_drift(login_as: Login, runtime: Runtime) -> None:
    with runtime.engine.begin() as conn:
        conn.execute(text("ALTER TABLE api_tokens DROP COLUMN last_used_at"))
    state = login_as("a").get("/api/dashboard").get_json()
    assert state["schema"]["in_sync"] is False and state["schema"]["differences"] >= 1
    assert any("out of sync" in line and "ops doctor" in line for line in state["banner"])
    html = login_as("a").get("/").get_data(as_text=True)
    assert "schema is out of sync" in html


BANNER = re.compile(r'<div id="banner".*?</div>', re.S)
DRIFT_LINES = re.compile(r'<li class="h-\w+">.*?title="(?:schema|database):.*?</li>', re.S)
CODE = re.compile(r"<code>([^<]*)</code>")
DRIFT = ("schema:", "database:")


def drifted_page(runtime: Runtime, users: WebUsers, auto_heal: str) -> tuple[str, dict[str, Any]]:
    """The admin's dashboard (HTML and state) over a database that lost a column writes need."""
    from tests.plugins.web import make_app, signed_in

    with runtime.engine.begin() as conn:
        conn.execute(text("ALTER TABLE scrape_jobs DROP COLUMN run_after"))
    healing = Runtime(runtime.settings.model_copy(update={"auto_heal": auto_heal}))
    try:
        client = signed_in(make_app(healing), users.admin)
        html = client.get("/").get_data(as_text=True)
        state = client.get("/api/dashboard").get_json()
    finally:
        healing.close()
    return html, state


@sqlite_only
def test_a_drift_names_one_fix_once_as_code(runtime: Runtime, users: WebUsers) -> None:
    html, state = drifted_page(runtime, users, "off")
    banner, health = BANNER.search(html), "".join(DRIFT_LINES.findall(html))
    assert banner is not None and "database writes" in health
    assert "schema is out of sync" in banner.group() and "`" not in banner.group()
    assert CODE.findall(banner.group()) == ["ops doctor"]  # the one fix, shown as code
    assert CODE.findall(health) == []  # not named again, nor a second command
    assert [h["fix"] for h in state["health"] if h["name"].startswith(DRIFT) and h["fix"]] == []


@sqlite_only
def test_a_drift_the_service_heals_names_no_fix(runtime: Runtime, users: WebUsers) -> None:
    html, state = drifted_page(runtime, users, "safe")
    banner, health = BANNER.search(html), "".join(DRIFT_LINES.findall(html))
    assert banner is not None and "database writes" in health
    assert "repairing it by itself" in banner.group()
    assert CODE.findall(banner.group() + health) == []
    writes = next(h for h in state["health"] if h["name"] == "database:writes")
    assert writes["status"] == "fail" and writes["fix"] is None


@sqlite_only
def test_schema_check_is_cached(runtime: Runtime, users: WebUsers) -> None:
    from tests.plugins.web import make_app, signed_in

    client = signed_in(make_app(runtime, SCHEMA_CHECK_SECONDS=60), users.a)
    assert client.get("/api/dashboard").get_json()["schema"]["in_sync"] is True
    with runtime.engine.begin() as conn:
        conn.execute(text("ALTER TABLE api_tokens DROP COLUMN last_used_at"))
    assert client.get("/api/dashboard").get_json()["schema"]["in_sync"] is True


@sqlite_only
def test_static_assets_are_served_locally(client: FlaskClient) -> None:
    for name in ("dashboard.js", "style.css"):
        response = client.get(f"/static/{name}")
        assert response.status_code == 200
        response.close()


def test_a_job_refused_by_a_drifted_database_is_never_invisible(
    login_as: Login, runtime: Runtime
) -> None:
    with runtime.engine.begin() as conn:
        conn.execute(text("ALTER TABLE scrape_jobs DROP COLUMN run_after"))
    client = login_as("a")
    form = {"query": "drifted", "max_content": "2", "enabled_sources": "selftest"}
    created = client.post("/search", data=form, follow_redirects=True)
    assert created.status_code == 200
    html = created.get_data(as_text=True)
    assert "held in the fallback store" in html and "ops doctor" in html
    assert "1 active download<" in html and "drifted" in html
    state = client.get("/api/dashboard").get_json()
    assert state["active_total"] == 1 and state["active"][0]["storage"] == "fallback"
    assert len(state["banner"]) == 2  # the held job and the drift


@pytest.mark.parametrize(
    ("kind", "ctx", "words"),
    [("string_too_short", {"min_length": 1}, "This cannot be empty."),
     ("string_too_short", {"min_length": 3}, "At least 3 characters."),
     ("too_short", {"min_length": 1}, "Choose at least one."),
     ("less_than_equal", {"le": 500}, "At most 500."),
     ("less_than_equal", {}, "Raw words."),
     ("unknown_source", {}, "Unknown source 'x'.")],
)  # fmt: skip
def test_a_validation_error_in_plain_words(kind: str, ctx: dict[str, int], words: str) -> None:
    raw = {"less_than_equal": "raw words", "unknown_source": "unknown source 'x'"}.get(kind, "")
    assert plain_words(kind, raw, ctx) == words
