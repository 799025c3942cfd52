"""The OpenAPI 3.1 document, built from the pydantic models in `schemas.py`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from scraper.sources import source_names
from scraper.web.schemas import (
    MAX_ROW_ID,
    AssetList,
    AssetListQuery,
    AssetOut,
    BulkRequest,
    BulkResult,
    DashboardOut,
    ErrorOut,
    JobList,
    JobListQuery,
    JobOut,
    SearchCreated,
    SearchRequest,
    StatsOut,
    StatsQuery,
    Unavailable,
    WorkerList,
)

REF = "#/components/schemas/{model}"
MODELS: list[tuple[type[BaseModel], JsonSchemaMode]] = [
    (SearchRequest, "validation"),
    (JobListQuery, "validation"),
    (AssetListQuery, "validation"),
    (SearchCreated, "serialization"),
    (JobOut, "serialization"),
    (JobList, "serialization"),
    (AssetOut, "serialization"),
    (AssetList, "serialization"),
    (DashboardOut, "serialization"),
    (ErrorOut, "serialization"),
    (BulkRequest, "validation"),
    (BulkResult, "serialization"),
    (WorkerList, "serialization"),
    (StatsQuery, "validation"),
    (StatsOut, "serialization"),
    (Unavailable, "serialization"),
]
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
    503: "The database could not answer.",
}
PAGE_ERRORS = {
    302: "Redirect (to the sign-in page when not signed in).",
    400: "Invalid form input or parameter (a NUL, a page number out of range), or no CSRF token.",
    401: "Wrong username or password.",
    403: "Only an admin may see this page.",
    404: "No such job, or not yours (or a page past the last).",
    413: "The form is larger than the app accepts.",
    429: "Too many failed sign-ins; `Retry-After` says when to try again.",
    503: "The database could not answer.",
}
ROW_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ROW_ID}
JOB_ID = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}
ASSET_ID = {"name": "asset_id", "in": "path", "required": True, "schema": ROW_ID}
PAGE_NUMBER = {"name": "page", "in": "query", "required": False, "schema": {"type": "integer"}}
HTML = {"text/html": {"schema": {"type": "string"}}}
PUBLIC: dict[str, Any] = {"security": []}
LIST_FILTERS = [
    {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
    for name in ("q", "source", "since", "until", "sort")
]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def _json(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


def _op(
    summary: str,
    ok: tuple[int, str] | None,
    errors: tuple[int, ...] = (),
    **extra: Any,
) -> dict[str, Any]:
    """An API operation: its success, its errors, plus 401 and 503 that any signed call has
    and 400 that any request has (a NUL in its path or a parameter, `bounds`)."""
    responses: dict[str, Any] = {}
    if ok is not None:
        responses[str(ok[0])] = _json(ok[1], "Success.")
    for status in sorted({*errors, 400, 401, 503}):
        responses[str(status)] = _json("ErrorOut", ERRORS[status])
    return {"summary": summary, "responses": responses, **extra}


def _query_parameters(defs: dict[str, Any], model: str) -> list[dict[str, Any]]:
    props = defs[model]["properties"]
    return [
        {"name": name, "in": "query", "required": False, "schema": s} for name, s in props.items()
    ]


def _file_op() -> dict[str, Any]:
    binary = {"*/*": {"schema": {"type": "string", "format": "binary"}}}
    op = _op("The asset's file", None, (404, 416), parameters=[ASSET_ID])
    op["responses"] |= {
        "200": {"description": "The file.", "content": binary},
        "206": {"description": "The requested byte range of the file.", "content": binary},
        "304": {"description": "Not modified since the validators the client sent."},
    }
    return op


def _paths(defs: dict[str, Any]) -> dict[str, Any]:
    body = {"required": True, "content": {"application/json": {"schema": _ref("SearchRequest")}}}
    jobs_q, assets_q = (
        _query_parameters(defs, "JobListQuery"),
        _query_parameters(defs, "AssetListQuery"),
    )
    job_op = {"parameters": [JOB_ID]}
    return {
        "/api/comprehensive-search": {
            "post": _op("Create a search job", (201, "SearchCreated"), (400, 413), requestBody=body)
        },
        "/api/job-progress/{job_id}": {
            "get": _op("A job's progress", (200, "JobOut"), (404,), **job_op)
        },
        "/api/jobs": {"get": _jobs_op(jobs_q)},
        "/api/jobs/bulk": {
            "post": _op(
                "Retry or cancel many jobs",
                (200, "BulkResult"),
                (400, 413),
                requestBody=_body("BulkRequest"),
            )
        },
        "/api/workers": {"get": _op("Workers (admin only)", (200, "WorkerList"), (403,))},
        "/api/stats": {
            "get": _op(
                "Activity per time bucket and per source",
                (200, "StatsOut"),
                (400,),
                parameters=_query_parameters(defs, "StatsQuery"),
            )
        },
        "/api/docs": {
            "get": {
                "summary": "This document rendered for people (Redoc)",
                **PUBLIC,
                "responses": {"200": {"description": "HTML page.", "content": HTML}},
            }
        },
        "/api/jobs/{job_id}": {"get": _op("One job", (200, "JobOut"), (404,), **job_op)},
        "/api/jobs/{job_id}/cancel": {
            "post": _op("Cancel a job", (200, "JobOut"), (400, 404, 409), **job_op)
        },
        "/api/jobs/{job_id}/retry": {
            "post": _op("Retry a job", (200, "JobOut"), (400, 404, 409), **job_op)
        },
        "/api/assets": {
            "get": _op("List assets", (200, "AssetList"), (400, 404), parameters=assets_q)
        },
        "/api/assets/{asset_id}": {
            "get": _op("One asset", (200, "AssetOut"), (404,), parameters=[ASSET_ID])
        },
        "/api/assets/{asset_id}/file": {"get": _file_op()},
        "/api/sources": {"get": _sources_op()},
        "/api/dashboard": {"get": _op("Dashboard state", (200, "DashboardOut"))},
        "/api/openapi.json": {
            "get": {
                "summary": "This document",
                **PUBLIC,
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.1 document.",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
        "/healthz": {"get": _health_op("Liveness: the process answers")},
        "/readyz": {"get": _health_op("Readiness: database, schema, worker, storage, fallback")},
        "/metrics": {"get": _metrics_op()},
    }


def _body(model: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(model)}}}


def _jobs_op(parameters: list[dict[str, Any]]) -> dict[str, Any]:
    """`GET /api/jobs`: its 503 still lists the jobs held in the fallback store."""
    op = _op("List jobs", (200, "JobList"), (400,), parameters=parameters)
    op["responses"]["503"] = _json("Unavailable", ERRORS[503] + " Fallback jobs are listed.")
    return op


def _metrics_op() -> dict[str, Any]:
    text = {"text/plain": {"schema": {"type": "string"}}}
    return {
        "summary": "Prometheus metrics (text format)",
        "description": "Needs `Authorization: Bearer <SCRAPER_METRICS_TOKEN>` when that is set.",
        **PUBLIC,
        "responses": {
            "200": {"description": "Prometheus exposition format.", "content": text},
            "401": _json("ErrorOut", "SCRAPER_METRICS_TOKEN is set and was not sent."),
        },
    }


def _form(fields: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """A urlencoded form body; every form also carries `csrf_token`."""
    schema = {
        "type": "object",
        "properties": fields | {"csrf_token": {"type": "string"}},
        "required": list(required),
    }
    return {"content": {"application/x-www-form-urlencoded": {"schema": schema}}}


def _page(
    summary: str,
    ok: int = 200,
    errors: tuple[int, ...] = (302, 503),
    public: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    """A dashboard page or form post: HTML, or a redirect; errors are HTML pages too (400 for
    any request with a NUL in its path or a parameter, `bounds`)."""
    responses: dict[str, Any] = {}
    if ok == 200:
        responses["200"] = {"description": "HTML page.", "content": HTML}
    for status in sorted({ok, *errors, 400} - {200}):
        responses[str(status)] = {"description": PAGE_ERRORS[status]}
        if status != 302:
            responses[str(status)]["content"] = HTML
    op: dict[str, Any] = {"summary": summary, "tags": ["dashboard"], "responses": responses}
    return op | (PUBLIC if public else {}) | extra


def _pages() -> dict[str, Any]:
    action = {"name": "action", "in": "path", "required": True,
              "schema": {"enum": ["cancel", "retry"]}}  # fmt: skip
    status = {"name": "status", "in": "query", "required": False, "schema": {"type": "string"}}
    login = _form(
        {"username": {"type": "string"}, "password": {"type": "string"}, "next": {"type": "string"}}
    )
    search = _form(
        {
            "query": {"type": "string"},
            "max_content": {"type": "string"},
            "safe_search": {"type": "string"},
            "enabled_sources": {"type": "array", "items": {"type": "string"}},
        }
    )
    posted = (302, 400, 413, 503)
    return {
        "/": {
            "get": _page(
                "The dashboard (400 for an unknown status or a page past the last)",
                errors=(302, 400, 503),
                parameters=[PAGE_NUMBER, status],
            )
        },
        "/login": {
            "get": _page("The sign-in form", errors=(302,), public=True),
            "post": _page(
                "Sign in", 302, (400, 401, 413, 429, 503), public=True, requestBody=login
            ),
        },
        "/logout": {"post": _page("Sign out", 302, posted, requestBody=_form({}))},
        "/search": {
            "post": _page("Create a job from the search form", 302, posted, requestBody=search)
        },
        "/jobs/{job_id}": {
            "get": _page("A job's page", errors=(302, 404, 503), parameters=[JOB_ID, PAGE_NUMBER])
        },
        "/jobs": {
            "get": _page(
                "Jobs: search, filters, sort, bulk actions",
                errors=(302, 400, 404, 503),
                parameters=[PAGE_NUMBER, status, *LIST_FILTERS],
            )
        },
        "/jobs/bulk": {
            "post": _page(
                "Retry or cancel the ticked or all matching jobs",
                302,
                posted,
                requestBody=_form(
                    {
                        "action": {"enum": ["retry", "cancel"]},
                        "scope": {"enum": ["selected", "filtered"]},
                        "job_ids": {"type": "array", "items": {"type": "string"}},
                    }
                ),
            )  # fmt: skip
        },
        "/workers": {"get": _page("Workers (admin only)", errors=(302, 403, 503))},
        "/jobs/{job_id}/{action}": {
            "post": _page(
                "Cancel or retry from the job page",
                302,
                (*posted, 404),
                parameters=[JOB_ID, action],
                requestBody=_form({}),
            )
        },
    }


def _sources_op() -> dict[str, Any]:
    schema = {
        "type": "object",
        "properties": {
            "sources": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "description": {"type": "string"},
                        "safe_search": {
                            "type": ["string", "null"],
                            "description": "The filter safe search maps to; null: none.",
                        },
                    },
                },
            }
        },
    }
    op = _op("Registered sources", None)
    op["responses"]["200"] = {
        "description": "Success.",
        "content": {"application/json": {"schema": schema}},
    }
    return op


def _health_op(summary: str) -> dict[str, Any]:
    content = {"application/health+json": {"schema": {"type": "object"}}}
    return {
        "summary": summary,
        **PUBLIC,
        "responses": {
            "200": {"description": "pass or warn", "content": content},
            "503": {"description": "fail", "content": content},
        },
    }


def _components(max_content_limit: int) -> dict[str, Any]:
    _, top = models_json_schema(MODELS, ref_template=REF)
    defs: dict[str, Any] = top["$defs"]
    search = defs["SearchRequest"]["properties"]
    search["max_content"]["maximum"] = max_content_limit
    search["enabled_sources"]["items"]["enum"] = source_names()
    return defs


def build_document(max_content_limit: int) -> dict[str, Any]:
    """The whole document; `max_content`'s maximum and the source names are the live ones."""
    defs = _components(max_content_limit)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Media scraper API",
            "version": "1.0.0",
            "description": 'Errors are always JSON `{"error", "message"}`.',
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}, {"sessionCookie": []}],
        "paths": _paths(defs) | _pages(),
        "components": {
            "schemas": defs,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer"},
                "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "session"},
            },
        },
    }
