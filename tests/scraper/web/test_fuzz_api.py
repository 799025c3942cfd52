"""Property-based fuzzing of every documented operation with schemathesis.

The document is loaded from the app itself (`GET /api/openapi.json`), so what is fuzzed is what
the app claims. Every generated request, valid and invalid, is sent as user A with a bearer
token, and every response must be no 5xx and must match the document: status code, content
type and body schema.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode, checks
from schemathesis.specs.openapi import checks as openapi_checks

from scraper.runtime import Runtime
from scraper.web.openapi import build_document
from scraper.web.schemas import DEFAULT_MAX_CONTENT_LIMIT
from tests.conftest import fresh_database, make_settings
from tests.plugins.web import WebUsers, finish_job, make_app, make_users

# PostgreSQL too: it refuses what SQLite stores (a NUL character), and a refusal must be a 400.
FUZZ_DIALECTS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]

MAX_EXAMPLES = 20
CHECKS = [
    checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
]


def _document() -> dict[str, Any]:
    """The document of an app over a throwaway SQLite file (nothing is created in it)."""
    with tempfile.TemporaryDirectory() as tmp:
        runtime = Runtime(make_settings(f"sqlite:///{tmp}/routes.db", Path(tmp)))
        try:
            return build_document(DEFAULT_MAX_CONTENT_LIMIT, make_app(runtime))
        finally:
            runtime.close()


def _cases() -> list[tuple[str, str, GenerationMode]]:
    """(method, path, mode) per operation; invalid inputs only where there is input to spoil.

    Collection needs them before any app exists; the test fuzzes the document the app serves,
    and `test_the_fuzzed_operations_are_the_ones_the_app_documents` keeps the two equal.
    """
    found = []
    for path, item in _document()["paths"].items():
        for method, op in item.items():
            found.append((method.upper(), path, GenerationMode.POSITIVE))
            if op.get("parameters") or op.get("requestBody"):
                found.append((method.upper(), path, GenerationMode.NEGATIVE))
    return found


CASES = _cases()


@pytest.fixture(scope="module", params=FUZZ_DIALECTS)
def fuzzed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Flask, WebUsers]]:
    """One app per dialect for the module, with users and a finished job with assets: each
    case only asks that the answer is documented and no 5xx, whatever earlier cases did."""
    root = tmp_path_factory.mktemp("fuzz")
    with fresh_database(request.param, root, "models") as url:
        runtime = Runtime(make_settings(url, root / "data"))
        app = make_app(runtime)
        users = make_users(runtime)
        finish_job(app.test_client(), users, runtime)
        yield app, users
        runtime.close()


@pytest.fixture
def users(fuzzed: tuple[Flask, WebUsers]) -> WebUsers:
    return fuzzed[1]


@pytest.fixture
def api_schema(fuzzed: tuple[Flask, WebUsers]) -> schemathesis.BaseSchema:
    """The app's own document, served by the module's app."""
    return schemathesis.openapi.from_wsgi("/api/openapi.json", fuzzed[0])


@pytest.mark.slow
def test_the_fuzzed_operations_are_the_ones_the_app_documents(
    api_schema: schemathesis.BaseSchema,
) -> None:
    paths = api_schema.raw_schema["paths"]
    served = {(method.upper(), path) for path, item in paths.items() for method in item}
    assert served == {(method, path) for method, path, _ in CASES}


@pytest.mark.parametrize(("method", "path", "mode"), CASES, ids=str)
@pytest.mark.slow
def test_every_operation_answers_as_documented(
    api_schema: schemathesis.BaseSchema,
    users: WebUsers,
    method: str,
    path: str,
    mode: GenerationMode,
) -> None:
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    def answers_as_documented(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=users.a.headers, checks=CHECKS)

    answers_as_documented()
