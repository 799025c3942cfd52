"""Property-based fuzzing of every documented operation with schemathesis.

The document is loaded from the app itself (`GET /api/openapi.json`), so what is fuzzed is what
the app claims. Every generated request, valid and invalid, is sent as user A with a bearer
token, and every response must be no 5xx and must match the document: status code, content
type and body schema.

Then the edges a client's mistake reaches (issue 28), on all three databases: every query and
path parameter drawn from values no database stores or no offset fits (a NUL, instants past
year 9999 or before year 1 with far offsets, numbers past 2**63, 250 `%_`), JSON bodies nested
thousands deep or over the size limit (413), and every operation while the user's read slots
are taken (429 where the document says so).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode, checks
from schemathesis.specs.openapi import checks as openapi_checks

from scraper.runtime import Runtime
from scraper.web.fairness import slots
from scraper.web.openapi import build_document
from scraper.web.schemas import DEFAULT_MAX_CONTENT_LIMIT
from tests.conftest import fresh_database, make_settings
from tests.plugins.web import WebUsers, finish_job, make_app, make_users

# PostgreSQL too: it refuses what SQLite stores (a NUL character), and a refusal must be a 400.
FUZZ_DIALECTS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
EDGE_DIALECTS = [*FUZZ_DIALECTS, pytest.param("mariadb", marks=pytest.mark.mariadb)]

MAX_EXAMPLES = 20
Fuzzed = tuple[Flask, WebUsers, schemathesis.BaseSchema]  # an app, its users, its document
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


@contextlib.contextmanager
def fuzz_app(dialect: str, root: Path) -> Iterator[Fuzzed]:
    """An app over a new database of `dialect`, with users and a finished job with assets:
    each case only asks that the answer is documented and no 5xx, whatever earlier cases did.
    With it, the document the app serves (loading it costs 0.2-0.5 s: once per app)."""
    with fresh_database(dialect, root, "models") as url:
        runtime = Runtime(make_settings(url, root / "data"))
        app = make_app(runtime)
        users = make_users(runtime)
        finish_job(app.test_client(), users, runtime)
        yield app, users, schemathesis.openapi.from_wsgi("/api/openapi.json", app)
        runtime.close()


@pytest.fixture(scope="module", params=FUZZ_DIALECTS)
def fuzzed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fuzzed]:
    """One app per dialect for the module."""
    with fuzz_app(request.param, tmp_path_factory.mktemp("fuzz")) as found:
        yield found


@pytest.fixture
def users(fuzzed: Fuzzed) -> WebUsers:
    return fuzzed[1]


@pytest.fixture
def api_schema(fuzzed: Fuzzed) -> schemathesis.BaseSchema:
    """The app's own document, served by the module's app."""
    return fuzzed[2]


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


# -- the edges ---------------------------------------------------------------------------------

HUGE = [10**20, -(10**20), 2**31, 2**63, -1, 0]
TEXT_EDGES = [
    "\x00",
    "a\x00b",
    "%_" * 250,
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00+14:00",
    "10000-01-01T00:00:00",
    "x" * 5000,
    " ",
    *(str(n) for n in HUGE),
    "1e400",
]
DEEP = [b"[" * 5000 + b"]" * 5000, b'{"query": ' + b"[" * 2000 + b"]" * 2000 + b"}"]
OVER_LIMIT = b'{"query": "' + b"x" * (96 * 1024) + b'"}'
EDGE_EXAMPLES = 12
JSON_BODY = "application/json"
FORM_BODY = "application/x-www-form-urlencoded"


def _edge_cases() -> list[tuple[str, str]]:
    """(method, path) of every operation with a parameter or a body to push to its edges."""
    return sorted({(method, path) for method, path, mode in CASES if mode.name == "NEGATIVE"})


@pytest.fixture(scope="module", params=EDGE_DIALECTS)
def edged(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fuzzed]:
    """One app per dialect, MariaDB included, and the document it serves."""
    with fuzz_app(request.param, tmp_path_factory.mktemp("edges")) as found:
        yield found


def _edge_values(operation: Any) -> st.SearchStrategy[dict[str, dict[str, Any]]]:
    """Per location (query, path), each parameter either generated or an edge value."""
    found: dict[str, dict[str, st.SearchStrategy[Any]]] = {"query": {}, "path": {}}
    for parameter in operation.definition.raw.get("parameters", []):
        where = parameter["in"]
        if where in found:
            edge = st.sampled_from([*TEXT_EDGES, *HUGE])
            found[where][parameter["name"]] = st.one_of(st.none(), edge)
    return st.fixed_dictionaries({k: st.fixed_dictionaries(v) for k, v in found.items()})


@pytest.mark.parametrize(("method", "path"), _edge_cases(), ids=str)
def test_every_parameter_and_body_at_its_edges_answers_as_documented(
    edged: Fuzzed, method: str, path: str
) -> None:
    app, users, schema = edged
    operation = schema[path][method]

    @given(case=operation.as_strategy(), edges=_edge_values(operation))
    @settings(
        max_examples=EDGE_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    def answers_as_documented(case: schemathesis.Case, edges: dict[str, dict[str, Any]]) -> None:
        case.query = {**(case.query or {}), **_chosen(edges["query"])}
        case.path_parameters = {**(case.path_parameters or {}), **_chosen(edges["path"])}
        case.call_and_validate(headers=users.a.headers, checks=CHECKS)

    answers_as_documented()
    bodies = {
        JSON_BODY: [*((deep, 400) for deep in DEEP), (OVER_LIMIT, 413)],
        FORM_BODY: [(b"csrf_token=" + b"x" * (96 * 1024), 413)],
    }
    content = (operation.definition.raw.get("requestBody") or {}).get("content", {})
    client = app.test_client()
    for media_type in set(bodies) & set(content):
        case = operation.Case(path_parameters={}, media_type=media_type)
        for raw, status in bodies[media_type]:
            reply = client.open(
                _example_path(operation, path), method=method, data=raw, content_type=media_type,
                headers=users.a.headers,
            )  # fmt: skip
            assert reply.status_code == status, (raw[:40], reply.get_data(as_text=True)[:300])
            case.validate_response(reply, checks=CHECKS)


def _example_path(operation: Any, path: str) -> str:
    """The path with each `{parameter}` filled with a value its schema takes (the body is
    refused before the value matters, but the route must match)."""
    for parameter in operation.definition.raw.get("parameters", []):
        if parameter["in"] == "path":
            schema = parameter["schema"]
            value = (schema.get("enum") or ["1" if schema.get("type") == "integer" else "x"])[0]
            path = path.replace("{" + parameter["name"] + "}", str(value))
    return path


def _chosen(values: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}


@pytest.mark.parametrize(
    ("method", "path"), [(m, p) for m, p, mode in CASES if mode.name == "POSITIVE"], ids=str
)
def test_every_operation_answers_as_documented_while_the_users_reads_are_taken(
    edged: Fuzzed, method: str, path: str
) -> None:
    """The user's read slots are all held elsewhere: an expensive read (its document lists
    429) answers 429 with `Retry-After`; every other operation answers as before."""
    app, users, schema = edged
    operation = schema[path][method]
    # POST /login documents 429 for failed sign-ins (the throttle), not for read slots.
    limited = "429" in operation.definition.raw["responses"] and path != "/login"
    throttled = path == "/login"
    with app.app_context():
        reads = slots()

    @given(case=operation.as_strategy())
    @settings(
        max_examples=3,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    def answers_as_documented(case: schemathesis.Case) -> None:
        reply = case.call_and_validate(headers=users.a.headers, checks=CHECKS)
        assert throttled or (reply.status_code == 429) == limited, reply.status_code
        if limited:
            headers = {name.lower(): value for name, value in reply.headers.items()}
            assert headers["retry-after"] in ("1", ["1"]), headers

    for _ in range(reads.per_user):
        reads.acquire(users.a.id)
    try:
        answers_as_documented()
    finally:
        for _ in range(reads.per_user):
            reads.release(users.a.id)
