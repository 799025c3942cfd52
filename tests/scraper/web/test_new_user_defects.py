"""Defects a new user hit (issue 27), each proved through the test client."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from scraper.config import Settings
from scraper.jobs.explain import summarize_error
from scraper.models import Base
from scraper.runtime import Runtime
from scraper.web.common import hide_data_dir, hide_paths
from tests.conftest import sqlite_only
from tests.plugins.web import WebUsers, make_app, make_users, signed_in, submit

Login = Callable[[str], FlaskClient]


@sqlite_only
def test_a_relative_data_dir_is_hidden_without_eating_the_word_database(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir(exist_ok=True)
    runtime = Runtime(settings.with_overrides(data_dir=Path("data")))
    Base.metadata.create_all(runtime.engine)
    users = make_users(runtime)
    state = signed_in(make_app(runtime), users.a).get("/api/dashboard").get_json()
    outputs = " ".join(h["output"] for h in state["health"])
    runtime.close()

    assert "The database answered in" in outputs and "outside the database" in outputs
    assert "directorybase" not in outputs and "the the" not in outputs


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("The database answered in 2.02 ms.", "The database answered in 2.02 ms."),
        ("No job is held outside the database.", "No job is held outside the database."),
        ("data directory data is not writable", "data directory is not writable"),
        ("cannot create data/tmp/x.part", "cannot create the data directory"),
        ("metadata of data2", "metadata of data2"),
    ],
)
def test_hide_data_dir_replaces_whole_paths_only(text: str, shown: str) -> None:
    assert hide_data_dir(text, Path("data")) == shown


def test_a_private_address_is_summarised_as_such_not_as_robots_txt() -> None:
    error = (
        "NothingStored: url: 10.1.2.3 resolves to non-public address 10.1.2.3 "
        "(http://10.1.2.3/robots.txt)"
    )
    summary = summarize_error(error) or ""
    assert "robots.txt" not in summary
    assert summary.startswith("10.1.2.3 is a private or local address (10.1.2.3)")
    assert "SCRAPER_ALLOW_PRIVATE_NETWORKS" in summary and "SCRAPER_TRUSTED_HOSTS" in summary


@sqlite_only
@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8000/a.png", "http://localhost/x", "https://[::1]/", "http://10.0.0.7/"],
)
def test_a_url_job_for_a_local_address_is_refused_at_submission(
    settings: Settings, url: str
) -> None:
    runtime = Runtime(settings.with_overrides(allow_private_networks=False))
    Base.metadata.create_all(runtime.engine)
    users = make_users(runtime)
    client = make_app(runtime).test_client()
    body = {"query": url, "max_content": 1, "enabled_sources": ["url"]}

    refused = client.post("/api/comprehensive-search", json=body, headers=users.a.headers)

    assert refused.status_code == 400, refused.get_json()
    assert refused.get_json()["field"] == "query"
    assert "SCRAPER_ALLOW_PRIVATE_NETWORKS" in refused.get_json()["message"]
    assert runtime.jobs.list().total == 0
    runtime.close()


@sqlite_only
def test_a_trusted_host_or_allowed_private_networks_may_be_submitted(
    settings: Settings, client: FlaskClient, users: WebUsers
) -> None:
    body = {"query": "http://127.0.0.1:9/a.png", "max_content": 1, "enabled_sources": ["url"]}
    allowed = client.post("/api/comprehensive-search", json=body, headers=users.a.headers)
    assert allowed.status_code == 201  # the test settings allow private networks
    runtime = Runtime(
        settings.with_overrides(allow_private_networks=False, trusted_hosts={"localhost"})
    )
    client = make_app(runtime).test_client()  # same database: the users exist
    body["query"] = "http://localhost:9/a.png"
    trusted = client.post("/api/comprehensive-search", json=body, headers=users.b.headers)
    assert trusted.status_code == 201
    runtime.close()


@sqlite_only
def test_a_failed_job_without_files_says_so_and_its_message_is_the_summary(
    runtime: Runtime, client: FlaskClient, users: WebUsers
) -> None:
    job_id = submit(client, users.a, "doomed", 1)
    assert runtime.store.claim("w1", 30) is not None
    runtime.store.fail(job_id, "w1", "NothingStored: openverse: HTTP status 503 for https://x/")
    page = signed_in(make_app(runtime), users.a).get(f"/jobs/{job_id}").get_data(as_text=True)
    assert "No assets yet." not in page
    assert "The job failed before it stored any file." in page
    assert '<dd class="job-message">Openverse answered 503 Service Unavailable</dd>' in page


@sqlite_only
def test_an_unknown_job_or_page_gets_our_404_page_in_plain_words(
    runtime: Runtime, users: WebUsers
) -> None:
    browser = signed_in(make_app(runtime), users.a)
    job = browser.get("/jobs/no-such-job")
    assert job.status_code == 404
    html = job.get_data(as_text=True)
    assert "There is no job &#39;no-such-job&#39; that you can see" in html
    assert "check your spelling" not in html and 'id="error-message"' in html
    other = browser.get("/nowhere")
    assert other.status_code == 404 and "There is no page at /nowhere." in other.get_data(
        as_text=True
    )


@sqlite_only
def test_health_labels_are_unique(login_as: Login) -> None:
    html = login_as("a").get("/").get_data(as_text=True)
    labels = re.findall(r'<b title="[^"]+">([^<]+)</b>', html)
    assert "database" in labels and "database writes" in labels
    assert len(labels) == len(set(labels)), labels


@sqlite_only
def test_the_dashboard_counts_the_users_jobs_per_state(
    runtime: Runtime, client: FlaskClient, users: WebUsers, login_as: Login
) -> None:
    for query in ("one", "two", "three"):
        submit(client, users.a, query, 1)
    runtime.jobs.cancel(submit(client, users.a, "gone", 1))
    submit(client, users.b, "not mine", 1)

    state = login_as("a").get("/api/dashboard").get_json()
    assert state["counts"] == {
        "pending": 3, "running": 0, "completed": 0, "failed": 0, "cancelled": 1,
    }  # fmt: skip
    assert state["active_total"] == 3
    html = login_as("a").get("/").get_data(as_text=True)
    link = '<a href="/jobs?status=cancelled" data-status="cancelled"><span class="n">1</span>'
    assert link in html
    assert login_as("admin").get("/api/dashboard").get_json()["counts"]["pending"] == 4


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("cannot write '/srv/other/x.part'", "cannot write 'a path on the server'"),
        ("data/tmp/x.part is full", "the data directory is full"),
        ("404 from https://example.com/a/b.png", "404 from https://example.com/a/b.png"),
        ("either/or and 1/2", "either/or and 1/2"),
    ],
)
def test_hide_paths_hides_server_paths_not_urls(text: str, shown: str) -> None:
    assert hide_paths(text, Path("data")) == shown
