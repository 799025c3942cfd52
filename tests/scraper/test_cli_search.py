"""`scraper search`: list or download a search's results from the terminal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from scraper.cli import main
from scraper.sources.selftest import make_png
from tests.plugins.http_server import HTTPTestServer, fixture_bytes


@pytest.fixture
def run(data_dir: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SCRAPER_DATA_DIR", str(data_dir))
    monkeypatch.setenv("SCRAPER_HOST_DELAY", "0")

    def invoke(*args: str, **env: str):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(main, ["search", *args], env=env or None)

    return invoke


def stored_files(data_dir: Path) -> list[Path]:
    return (
        sorted((data_dir / "downloads").rglob("*.png")) if (data_dir / "downloads").exists() else []
    )


def test_dry_run_lists_items_and_downloads_nothing(run, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    result = run("sunset", "--source", "selftest", "--limit", "2", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    items = json.loads(result.stdout)["items"]
    assert [(i["source"], i["url"], i["license"]) for i in items] == [
        ("selftest", "selftest://1.png", "CC0-1.0"),
        ("selftest", "selftest://2.png", "CC0-1.0"),
    ]
    assert stored_files(data_dir) == []


def test_search_downloads_into_the_data_dir_with_a_progress_bar(run, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    result = run("sunset", "--source", "selftest", "--limit", "3")
    assert result.exit_code == 0, result.output
    assert "Downloading" in result.stderr and "3 stored, 0 skipped" in result.stderr
    files = stored_files(data_dir)
    assert len(files) == 3
    assert {f.read_bytes() for f in files} == {make_png(f"sunset/{i}") for i in (1, 2, 3)}
    assert all(str(f) in result.stdout for f in files)


def test_unknown_source_is_a_usage_error_naming_the_known_ones(run, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    result = run("sunset", "--source", "nope")
    assert result.exit_code == 2
    assert "unknown source 'nope'" in result.stderr and "selftest" in result.stderr
    assert stored_files(data_dir) == []


def test_limit_out_of_range_is_refused(run) -> None:  # type: ignore[no-untyped-def]
    result = run("sunset", "--source", "selftest", "--limit", "0")
    assert result.exit_code == 2 and "--limit" in result.stderr


def test_every_source_failing_exits_1_and_says_why(run, http_server: HTTPTestServer) -> None:  # type: ignore[no-untyped-def]
    # The page is on 127.0.0.1 and private networks are not allowed: the guard refuses it.
    http_server.route("/gallery.html", fixture_bytes("gallery.html"), "text/html")
    result = run(http_server.url("/gallery.html"), "--source", "url", "--dry-run")
    assert result.exit_code == 1
    assert "url failed" in result.stderr and "non-public address 127.0.0.1" in result.stderr
    assert http_server.requests == []


def test_skipped_items_are_reported_with_their_reason(run, http_server: HTTPTestServer) -> None:  # type: ignore[no-untyped-def]
    http_server.route(
        "/gallery.html",
        b'<img src="/a.png"><img src="/b.png"><img src="/page.png">',
        "text/html",
    )
    png = make_png("cli")
    http_server.route("/a.png", png)
    http_server.route("/b.png", png)  # the same bytes: stored once
    http_server.route("/page.png", b"<html>not an image</html>", "text/html")
    result = run(
        http_server.url("/gallery.html"),
        "--source",
        "url",
        "--json",
        SCRAPER_TRUSTED_HOSTS="127.0.0.1",
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert [f["url"].rsplit("/", 1)[1] for f in out["stored"]] == ["a.png"]
    reasons = {s["url"].rsplit("/", 1)[1]: s["reason"] for s in out["skipped"]}
    assert reasons == {"b.png": "duplicate_content", "page.png": "bad_content_type"}
