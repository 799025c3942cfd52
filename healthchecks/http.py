"""/healthz and /readyz in the IETF api-health-check draft shape (`application/health+json`).

`/healthz` is liveness (the process answers; no database); `/readyz` runs every check.
HTTP 200 for pass and warn, 503 for fail.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, Response, current_app

from healthchecks.base import CheckResult, Status, worst
from healthchecks.monitor import monitor_for

if TYPE_CHECKING:
    from scraper.runtime import Runtime

bp = Blueprint("health", __name__)
MEDIA_TYPE = "application/health+json"
STARTED_KEY = "healthchecks.started"
RUNTIME_KEY = "healthchecks.runtime"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def entry(result: CheckResult, at: str | None = None) -> dict[str, Any]:
    """One `checks` entry: draft keys, plus `fix` where something needs doing."""
    item: dict[str, Any] = {"status": result.status.value, "time": at or _now()}
    if result.component_type:
        item["componentType"] = result.component_type
    if result.observed is not None:
        item["observedValue"] = result.observed
    if result.unit:
        item["observedUnit"] = result.unit
    if result.output and result.status is not Status.PASS:
        item["output"] = result.output
    if result.fix and result.status is not Status.PASS:
        item["fix"] = result.fix
    return item


def health_document(results: list[CheckResult], description: str) -> dict[str, Any]:
    """The whole health+json body: overall status and `checks` keyed `component:measurement`."""
    at = _now()
    status = worst(results)
    doc: dict[str, Any] = {"status": status.value, "description": description, "checks": {}}
    for result in results:
        doc["checks"].setdefault(result.name, []).append(entry(result, at))
    problems = [r for r in results if r.status is not Status.PASS]
    if problems:
        problems.sort(key=lambda r: -r.status.rank)
        doc["output"] = problems[0].output
    return doc


def respond(doc: dict[str, Any]) -> Response:
    """Serialize with the health media type; 503 only when the status is fail."""
    code = 503 if doc["status"] == Status.FAIL.value else 200
    response = Response(json.dumps(doc, default=str), status=code, mimetype=MEDIA_TYPE)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/healthz")
def healthz() -> Response:
    """Liveness: the process answers; touches no database."""
    uptime = round(time.monotonic() - current_app.extensions[STARTED_KEY], 3)
    result = CheckResult("uptime", Status.PASS, observed=uptime, unit="s", component_type="system")
    return respond(health_document([result], "scraper liveness"))


@bp.get("/readyz")
def readyz() -> Response:
    """Readiness: database, schema, workers, queue, storage and fallback checks."""
    results = monitor_for(current_app.extensions[RUNTIME_KEY]).results()
    return respond(health_document(results, "scraper readiness"))


def init_app(app: Flask, runtime: Runtime) -> None:
    """Register the health endpoints; `/readyz` checks `runtime`."""
    app.extensions[STARTED_KEY] = time.monotonic()
    app.extensions[RUNTIME_KEY] = runtime
    app.register_blueprint(bp)
