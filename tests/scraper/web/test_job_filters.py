"""One filter model for the job list: the API and the jobs page accept and refuse alike."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import sqlite_only
from tests.plugins.web import WebUsers, signed_in

pytestmark = sqlite_only


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("sort=size", "Unknown sort &#39;size&#39;"),
        ("source=nowhere", "Unknown source &#39;nowhere&#39;"),
        ("since=yesterday", "since:"),
    ],
)
def test_a_value_the_api_refuses_the_page_refuses_too(
    app: Flask, client: FlaskClient, users: WebUsers, query: str, words: str
) -> None:
    assert client.get(f"/api/jobs?{query}", headers=users.a.headers).status_code == 400
    page = signed_in(app, users.a).get(f"/jobs?{query}")
    assert page.status_code == 400 and words in page.text


def test_the_page_ignores_blank_fields_the_api_refuses(
    app: Flask, client: FlaskClient, users: WebUsers
) -> None:
    blank = "q=&status=&source=&since=&until=&sort="
    assert client.get(f"/api/jobs?{blank}", headers=users.a.headers).status_code == 400
    assert signed_in(app, users.a).get(f"/jobs?{blank}").status_code == 200
