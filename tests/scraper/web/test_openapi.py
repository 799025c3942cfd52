"""The OpenAPI document: generated from the request models, covering every API route."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from scraper.web.openapi import openapi_path
from tests.conftest import sqlite_only

pytestmark = sqlite_only


@pytest.fixture
def document(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.get_json()
    return body


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_every_route_is_documented(app: Flask, document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.")
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        assert path in document["paths"], path
        methods = (rule.methods or set()) - {"HEAD", "OPTIONS"}
        assert {m.lower() for m in methods} <= set(document["paths"][path]), path


def test_request_schema_carries_the_validation_limits(document: dict[str, Any]) -> None:
    search = document["components"]["schemas"]["SearchRequest"]
    props = search["properties"]
    assert search["required"] == ["query", "enabled_sources"]
    assert props["query"]["maxLength"] == 500 and props["query"]["minLength"] == 1
    assert props["max_content"]["minimum"] == 1 and props["max_content"]["maximum"] == 500
    assert props["safe_search"]["default"] is True
    assert props["enabled_sources"]["minItems"] == 1
    assert "selftest" in props["enabled_sources"]["items"]["enum"]
    body = document["paths"]["/api/comprehensive-search"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"]["$ref"].endswith("/SearchRequest")


def test_list_parameters_come_from_the_query_models(document: dict[str, Any]) -> None:
    params = document["paths"]["/api/jobs"]["get"]["parameters"]
    assert {p["name"] for p in params} == {
        "status", "storage", "limit", "offset", "q", "source", "since", "until", "sort", "cursor",
    }  # fmt: skip
    assets = document["paths"]["/api/assets"]["get"]["parameters"]
    assert {p["name"] for p in assets} == {"job_id", "limit", "offset", "cursor"}


def test_every_reference_resolves_and_errors_use_the_error_model(
    document: dict[str, Any],
) -> None:
    schemas = document["components"]["schemas"]
    for ref in _refs(document):
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas
    bad = document["paths"]["/api/comprehensive-search"]["post"]["responses"]["400"]
    assert bad["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorOut")
    assert {"error", "message"} <= set(schemas["ErrorOut"]["required"])
    job = schemas["JobOut"]["properties"]
    assert {"job_id", "status", "progress", "downloaded", "bytes", "storage", "warning"} <= set(job)


def test_every_api_route_is_documented_and_every_documented_path_is_a_route(
    app: Flask, document: dict[str, Any]
) -> None:
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        methods = {m.lower() for m in (rule.methods or set()) - {"HEAD", "OPTIONS"}}
        routes.setdefault(openapi_path(rule.rule), set()).update(methods)
    api = {path for path in routes if path.startswith("/api/")}
    assert api and api <= set(document["paths"])
    for path, item in document["paths"].items():
        assert path in routes, f"{path} is documented but no route serves it"
        assert set(item) <= routes[path], path
