"""The OpenAPI 3.1 document, built from the pydantic models in `schemas.py`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from scraper.sources import source_names
from scraper.web.schemas import (
    AssetList,
    AssetListQuery,
    AssetOut,
    DashboardOut,
    ErrorOut,
    JobList,
    JobListQuery,
    JobOut,
    SearchCreated,
    SearchRequest,
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
]
ERRORS = {
    400: "Invalid input; the message names the field.",
    401: "Not signed in: send a session cookie or `Authorization: Bearer <token>`.",
    404: "No such resource, or not yours.",
    409: "The job cannot make that transition.",
    503: "The database could not answer.",
}
JOB_ID = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}
ASSET_ID = {"name": "asset_id", "in": "path", "required": True, "schema": {"type": "integer"}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def _json(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


def _op(
    summary: str,
    ok: tuple[int, str] | None,
    errors: tuple[int, ...] = (401, 503),
    **extra: Any,
) -> dict[str, Any]:
    """One operation: its success response (status, model), its errors, and any extra keys."""
    responses: dict[str, Any] = {}
    if ok is not None:
        responses[str(ok[0])] = _json(ok[1], "Success.")
    for status in errors:
        responses[str(status)] = _json("ErrorOut", ERRORS[status])
    return {"summary": summary, "responses": responses, **extra}


def _query_parameters(defs: dict[str, Any], model: str) -> list[dict[str, Any]]:
    props = defs[model]["properties"]
    return [
        {"name": name, "in": "query", "required": False, "schema": s} for name, s in props.items()
    ]


def _paths(defs: dict[str, Any]) -> dict[str, Any]:
    body = {"required": True, "content": {"application/json": {"schema": _ref("SearchRequest")}}}
    binary = {"content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}}
    jobs_q, assets_q = (
        _query_parameters(defs, "JobListQuery"),
        _query_parameters(defs, "AssetListQuery"),
    )
    return {
        "/api/comprehensive-search": {
            "post": _op("Create a search job", (201, "SearchCreated"), (400, 401), requestBody=body)
        },
        "/api/job-progress/{job_id}": {
            "get": _op("A job's progress", (200, "JobOut"), (401, 404), parameters=[JOB_ID])
        },
        "/api/jobs": {"get": _op("List jobs", (200, "JobList"), (400, 401), parameters=jobs_q)},
        "/api/jobs/{job_id}": {
            "get": _op("One job", (200, "JobOut"), (401, 404), parameters=[JOB_ID])
        },
        "/api/jobs/{job_id}/cancel": {
            "post": _op("Cancel a job", (200, "JobOut"), (401, 404, 409), parameters=[JOB_ID])
        },
        "/api/jobs/{job_id}/retry": {
            "post": _op("Retry a job", (200, "JobOut"), (401, 404, 409), parameters=[JOB_ID])
        },
        "/api/assets": {
            "get": _op("List assets", (200, "AssetList"), (400, 401, 404), parameters=assets_q)
        },
        "/api/assets/{asset_id}": {
            "get": _op("One asset", (200, "AssetOut"), (401, 404), parameters=[ASSET_ID])
        },
        "/api/assets/{asset_id}/file": {
            "get": {
                **_op("The asset's file", None, (401, 404), parameters=[ASSET_ID]),
                "responses": {"200": {"description": "The file.", **binary}}
                | {str(s): _json("ErrorOut", ERRORS[s]) for s in (401, 404)},
            }
        },
        "/api/sources": {"get": _sources_op()},
        "/api/dashboard": {"get": _op("Dashboard state", (200, "DashboardOut"), (401,))},
        "/api/openapi.json": {
            "get": {
                "summary": "This document",
                "security": [],
                "responses": {"200": {"description": "OpenAPI 3.1 document."}},
            }
        },
        "/healthz": {"get": _health_op("Liveness: the process answers")},
        "/readyz": {"get": _health_op("Readiness: database, schema, worker, storage, fallback")},
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics (text format)",
                "security": [],
                "responses": {"200": {"description": "Prometheus exposition format."}},
            }
        },
    }


def _page(summary: str, status: int = 200, public: bool = False) -> dict[str, Any]:
    """A dashboard page or form post (HTML; form posts need the `csrf_token` field)."""
    html: dict[str, Any] = {"description": "HTML page." if status == 200 else "Redirect."}
    if status == 200:
        html["content"] = {"text/html": {}}
    op: dict[str, Any] = {
        "summary": summary,
        "tags": ["dashboard"],
        "responses": {str(status): html},
    }
    if public:
        op["security"] = []
    return op


def _pages() -> dict[str, Any]:
    action = {"name": "action", "in": "path", "required": True,
              "schema": {"enum": ["cancel", "retry"]}}  # fmt: skip
    return {
        "/": {"get": _page("The dashboard")},
        "/login": {
            "get": _page("The sign-in form", public=True),
            "post": _page("Sign in (form: username, password, csrf_token)", 302, public=True),
        },
        "/logout": {"post": _page("Sign out (form: csrf_token)", 302)},
        "/search": {"post": _page("Create a job from the search form", 302)},
        "/jobs/{job_id}": {"get": {**_page("A job's page"), "parameters": [JOB_ID]}},
        "/jobs/{job_id}/{action}": {
            "post": {
                **_page("Cancel or retry from the job page", 302),
                "parameters": [JOB_ID, action],
            }
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
    op = _op("Registered sources", None, (401,))
    op["responses"]["200"] = {
        "description": "Success.",
        "content": {"application/json": {"schema": schema}},
    }
    return op


def _health_op(summary: str) -> dict[str, Any]:
    content = {"application/health+json": {"schema": {"type": "object"}}}
    return {
        "summary": summary,
        "security": [],
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
