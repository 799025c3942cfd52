"""/metrics, HTTP request metrics and the X-Request-ID of every response.

Request metrics are labelled by the matched URL rule (`/api/job-progress/<job_id>`), never the
raw path, so ids and typos cannot explode the series count.
"""

from __future__ import annotations

import contextlib
import hmac
import time

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from scraper.counters import HTTP_LATENCY, HTTP_REQUESTS
from scraper.logs import bind, request_id_from, unbind
from scraper.metrics.collector import ScraperCollector
from scraper.metrics.exporter import build_registry
from scraper.web.context import current_runtime, runtime_of
from scraper.web.operation import documented

bp = Blueprint("metrics", __name__)
REGISTRY_KEY = "scraper.metrics.registry"
ERROR_REF = "#/components/schemas/ErrorOut"  # always in the document
COLLECTOR_KEY = "scraper.metrics.collector"
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "<unmatched>"


def registry_of(app: Flask) -> CollectorRegistry:
    """The registry this app's /metrics serves."""
    registry: CollectorRegistry = app.extensions[REGISTRY_KEY]
    return registry


def collector_of(app: Flask) -> ScraperCollector:
    """The app's database collector (to clear its cache in tests or after a change)."""
    collector: ScraperCollector = app.extensions[COLLECTOR_KEY]
    return collector


def _authorized() -> bool:
    token = current_runtime().settings.metrics_token
    if not token:
        return True
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)


@bp.get("/metrics")
@documented(
    summary="Prometheus metrics (text format)",
    description="Needs `Authorization: Bearer <SCRAPER_METRICS_TOKEN>` when that is set.",
    public=True,
    responses={
        200: {
            "description": "Prometheus exposition format.",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        401: {
            "description": "SCRAPER_METRICS_TOKEN is set and was not sent.",
            "content": {"application/json": {"schema": {"$ref": ERROR_REF}}},
        },
    },
)
def metrics() -> ResponseReturnValue:
    """Prometheus text format; a Bearer token is required when SCRAPER_METRICS_TOKEN is set."""
    if not _authorized():
        body = {"error": "unauthorized", "message": "/metrics needs 'Authorization: Bearer'"}
        return jsonify(body), 401, {"WWW-Authenticate": 'Bearer realm="metrics"'}
    output = generate_latest(registry_of(current_app))
    return Response(output, status=200, mimetype=None, content_type=CONTENT_TYPE_LATEST)


def _start_request() -> None:
    g.metrics_started = time.perf_counter()
    g.request_id = request_id_from(request.headers.get("X-Request-ID"))
    g.log_token = bind(request_id=g.request_id)


def _finish_request(response: Response) -> Response:
    request_id = g.get("request_id") or request_id_from(None)
    response.headers["X-Request-ID"] = request_id
    endpoint = request.url_rule.rule if request.url_rule is not None else UNMATCHED
    method = request.method if request.method in KNOWN_METHODS else "OTHER"
    started = g.get("metrics_started")
    if started is not None:
        HTTP_LATENCY.labels(endpoint, method).observe(time.perf_counter() - started)
    HTTP_REQUESTS.labels(endpoint, method, str(response.status_code)).inc()
    return response


def _teardown(_exc: BaseException | None) -> None:
    token = g.pop("log_token", None)
    if token is not None:
        with contextlib.suppress(ValueError):  # reset from another context: nothing to undo
            unbind(token)


def init_app(app: Flask) -> None:
    """Register /metrics, the per-app registry and the request instrumentation."""
    collector = ScraperCollector(runtime_of(app))
    app.extensions[COLLECTOR_KEY] = collector
    app.extensions[REGISTRY_KEY] = build_registry(collector=collector)
    app.register_blueprint(bp)
    # First in line, so a request another hook answers early (401) still gets an id and timing.
    app.before_request_funcs.setdefault(None, []).insert(0, _start_request)
    app.after_request(_finish_request)
    app.teardown_request(_teardown)
