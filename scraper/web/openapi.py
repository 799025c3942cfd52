"""The OpenAPI 3.1 document, generated from the app's routes and what each view declares.

Every rule of the app's url_map whose view carries an `@documented` operation becomes an
operation: its path and path parameters from the rule, its body, query and answers from the
pydantic models that validate and serialise them (`operation.py`). No route is listed here by
hand; `/healthz` and `/readyz` belong to `healthchecks`, which may not import the web app, so
their operations are declared below, on their views. This module also serves the document
(`/api/openapi.json`) and its rendering for people (`/api/docs`, Redoc from the package).
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Flask, current_app, render_template
from flask.typing import ResponseReturnValue
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from werkzeug.routing import Rule

from healthchecks import http as health_http
from scraper.sources import source_names
from scraper.web.context import current_runtime
from scraper.web.operation import Operation, documented, operation_of
from scraper.web.schemas import MAX_ROW_ID, BusyOut, ErrorOut

bp = Blueprint("docs", __name__, url_prefix="/api")
REF = "#/components/schemas/{model}"
IGNORED_METHODS = {"HEAD", "OPTIONS"}
PATH_ARGUMENT = re.compile(r"<(?:(\w+):)?(\w+)>")  # (converter or "", name)
# Redoc renders with inline styles and a blob: web worker; nothing leaves the origin.
DOCS_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
ERRORS = {
    400: (
        "Invalid input (the message names the field), a body that is not JSON,"
        " or a session request without CSRF token."
    ),
    401: "Not signed in: send a session cookie or `Authorization: Bearer <token>`.",
    403: "Signed in, but only an admin may call this.",
    404: "No such resource, or not yours.",
    409: "The job cannot make that transition.",
    413: "The request body is larger than the app accepts.",
    416: "The requested byte range is outside the file.",
    429: (
        "You already have `SCRAPER_WEB_USER_READS` expensive requests running (lists, stats,"
        " archives, job changes); `Retry-After` says"
        " when to try again, `limit` names the setting."
    ),
    503: "The database could not answer, or refused the request (run `ops doctor`).",
}
BUSY = (
    "The database could not answer, or the server is running `SCRAPER_WEB_READS` expensive"
    " requests for all users (`error: server_busy`, `limit` names the setting); `Retry-After`"
    " says when to try again."
)
PAGE_ERRORS = {
    302: "Redirect (to the sign-in page when not signed in).",
    400: "Invalid form input or parameter (a NUL, a page number out of range), or no CSRF token.",
    401: "Wrong username or password.",
    403: "Only an admin may see this page.",
    404: "No such job, or not yours (or a page past the last).",
    413: "The form is larger than the app accepts.",
    429: (
        "Too many failed sign-ins, or (a list, a job change) too many expensive requests of"
        " yours at once;"
        " `Retry-After` says when to try again."
    ),
    503: "The database could not answer, or refused the request (run `ops doctor`).",
}
CONVERTERS = {"int": {"type": "integer", "minimum": 1, "maximum": MAX_ROW_ID}}
HTML = {"text/html": {"schema": {"type": "string"}}}
HEALTH = {"application/health+json": {"schema": {"type": "object"}}}
HEALTH_RESPONSES: dict[int, Any] = {
    200: {"description": "pass or warn", "content": HEALTH},
    503: {"description": "fail", "content": HEALTH},
}

documented(summary="Liveness: the process answers", public=True, responses=HEALTH_RESPONSES)(
    health_http.healthz
)
documented(
    summary="Readiness: database, schema, worker, storage, fallback",
    public=True,
    responses=HEALTH_RESPONSES,
)(health_http.readyz)


@bp.get("/openapi.json")
@documented(
    summary="This document",
    public=True,
    responses={
        200: {
            "description": "OpenAPI 3.1 document.",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
def openapi_document() -> ResponseReturnValue:
    """The OpenAPI 3 document, generated from the app's routes and their models."""
    return build_document(current_runtime().settings.max_content_limit, current_app)


@bp.get("/docs")
@documented(
    summary="This document rendered for people (Redoc)",
    public=True,
    responses={200: {"description": "HTML page.", "content": HTML}},
)
def api_docs() -> ResponseReturnValue:
    """The OpenAPI document rendered for people (Redoc, served from the package)."""
    page = render_template("docs.html")
    return page, 200, {"Content-Security-Policy": DOCS_CSP}


def openapi_path(rule: str) -> str:
    """`/api/jobs/<job_id>` -> `/api/jobs/{job_id}` (converters dropped)."""
    return PATH_ARGUMENT.sub(r"{\2}", rule)


def documented_operations(app: Flask) -> list[tuple[Rule, str, Operation]]:
    """(rule, method, operation) for every route of the app that declares its operation."""
    found = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        view = app.view_functions[rule.endpoint]
        for method in sorted((rule.methods or set()) - IGNORED_METHODS):
            operation = operation_of(view, method)
            if operation is not None:
                found.append((rule, method, operation))
    return found


def build_document(max_content_limit: int, app: Flask) -> dict[str, Any]:
    """The whole document for `app`'s routes.

    `max_content`'s maximum and the source names are the live ones.
    """
    operations = documented_operations(app)
    paths: dict[str, Any] = {}
    for rule, method, operation in operations:
        view = app.view_functions[rule.endpoint]
        item = paths.setdefault(openapi_path(rule.rule), {})
        item[method.lower()] = _operation(rule, view.__doc__, operation)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Media scraper API",
            "version": "1.0.0",
            "description": 'Errors are always JSON `{"error", "message"}`.',
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}, {"sessionCookie": []}],
        "paths": paths,
        "components": {
            "schemas": _components([op for _, _, op in operations], max_content_limit),
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer"},
                "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "session"},
            },
        },
    }


# -- one operation -----------------------------------------------------------------------------


def _operation(rule: Rule, docstring: str | None, op: Operation) -> dict[str, Any]:
    summary = op.summary or (docstring or "").strip().splitlines()[0]
    out: dict[str, Any] = {"summary": summary}
    if op.description:
        out["description"] = op.description
    if op.page:
        out["tags"] = ["dashboard"]
    parameters = _parameters(rule, op)
    if parameters:
        out["parameters"] = parameters
    body = _request_body(op)
    if body is not None:
        out["requestBody"] = body
    out["responses"] = _page_responses(op) if op.page else _api_responses(op)
    if op.public:
        out["security"] = []
    return out


def _parameters(rule: Rule, op: Operation) -> list[dict[str, Any]]:
    """Path parameters from the rule, then the query: the model's fields, or `params`."""
    found = []
    for converter, name in PATH_ARGUMENT.findall(rule.rule):
        schema = op.params.get(name) or CONVERTERS.get(converter, {"type": "string"})
        found.append({"name": name, "in": "path", "required": True, "schema": schema})
    query = dict(_model_properties(op.query)) if op.query is not None else {}
    query |= {name: s for name, s in op.params.items() if name not in rule.arguments}
    found += [{"name": n, "in": "query", "required": False, "schema": s} for n, s in query.items()]
    return found


def _model_properties(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template=REF, mode="validation")
    properties: dict[str, Any] = schema["properties"]
    return properties


def _request_body(op: Operation) -> dict[str, Any] | None:
    if op.body is not None:
        return {"required": True, "content": {"application/json": {"schema": _ref(op.body)}}}
    if op.form is None:
        return None
    schema = {
        "type": "object",
        "properties": dict(op.form) | {"csrf_token": {"type": "string"}},
        "required": [],
    }  # every form also carries `csrf_token`
    return {"content": {"application/x-www-form-urlencoded": {"schema": schema}}}


def _api_responses(op: Operation) -> dict[str, Any]:
    """Its success, its errors (plus 401 and 503, which any signed call may answer, and 400,
    which any request may: a NUL in its path or a parameter, `bounds`)."""
    responses: dict[int, Any] = {}
    if op.response is not None:
        responses[op.status] = _json(op.response, "Success.")
    errors = {*op.errors, 400} if op.public else {*op.errors, 400, 401, 503}
    if op.expensive:
        errors.add(429)
    for status in sorted(errors):
        responses[status] = _json(ErrorOut, ERRORS[status])
    if op.expensive:
        responses[429] = _json(BusyOut, ERRORS[429])
        responses[503] = _json(BusyOut, BUSY)
    for status, answer in op.responses.items():
        if isinstance(answer, type):
            described = BUSY if op.expensive and status == 503 else ERRORS.get(status, "Success.")
            responses[status] = _json(answer, described)
        else:
            responses[status] = answer
    return {str(status): responses[status] for status in sorted(responses)}


def _page_responses(op: Operation) -> dict[str, Any]:
    """A page or form post: HTML or a redirect; its errors are HTML pages too."""
    responses: dict[str, Any] = {}
    if op.status == 200:
        responses["200"] = {"description": "HTML page.", "content": HTML}
    busy = {429, 503} if op.expensive else set()
    for status in sorted({op.status, *op.errors, 400, *busy} - {200}):  # 400: `bounds`
        responses[str(status)] = {"description": PAGE_ERRORS[status]}
        if status != 302:
            responses[str(status)]["content"] = HTML
    return responses


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(model)}}}


# -- the models --------------------------------------------------------------------------------


def _models(operations: list[Operation]) -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    """Each model once: inputs as validated, outputs as serialised."""
    found: dict[type[BaseModel], JsonSchemaMode] = {ErrorOut: "serialization"}
    if any(op.expensive for op in operations):
        found[BusyOut] = "serialization"
    for op in operations:
        for model in (op.body, op.query):
            if model is not None:
                found[model] = "validation"
        answers = [op.response, *op.responses.values()]
        for answer in answers:
            if isinstance(answer, type) and issubclass(answer, BaseModel):
                found[answer] = "serialization"
    return list(found.items())


def _components(operations: list[Operation], max_content_limit: int) -> dict[str, Any]:
    _, top = models_json_schema(_models(operations), ref_template=REF)
    defs: dict[str, Any] = top["$defs"]
    if "SearchRequest" in defs:
        search = defs["SearchRequest"]["properties"]
        search["max_content"]["maximum"] = max_content_limit
        search["enabled_sources"]["items"]["enum"] = source_names()
    return defs


def init_app(app: Flask) -> None:
    """Register the document and its page."""
    app.register_blueprint(bp)
