"""`ops trace`: submit a selftest job and follow it hop by hop through the whole stack.

API accepted → row in scrape_jobs → claimed by a worker → progress → files on disk →
asset rows → listed by /api/jobs → counted in /metrics. The first broken hop is named with
what was seen; the test job is removed afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask

from ops.trace.cleanup import remove_job, temporary_admin
from ops.trace.client import ApiClient, FlaskClient, HttpClient, TraceCannotRun
from ops.trace.hops import HOPS, TraceState, run_hop
from ops.trace.report import SKIP, Hop, TraceReport, render_text
from scraper.runtime import Runtime
from scraper.web import create_app
from scraper.worker import Worker

__all__ = [
    "Hop",
    "TraceCannotRun",
    "TraceReport",
    "render_text",
    "run_trace",
    "trace",
    "trace_url",
]


def run_trace(client: ApiClient, runtime: Runtime, timeout: float = 60.0) -> TraceReport:
    """Follow one selftest job through every hop with `client`; clean it up afterwards."""
    state = TraceState(client=client, runtime=runtime, timeout=timeout)
    state.deadline = time.monotonic() + timeout
    report = TraceReport(target=client.target, query=state.query)
    try:
        for name, check in HOPS:
            if report.broken is not None:
                report.hops.append(Hop(name, SKIP, 0.0, "not reached"))
                continue
            report.hops.append(run_hop(name, check, state))
    finally:
        report.job_id = state.job_id or None
        report.cleanup = remove_job(state)
    return report


def trace_url(url: str, token: str | None, runtime: Runtime, timeout: float = 60.0) -> TraceReport:
    """Trace through the live API at `url`."""
    client = HttpClient(url, token)
    try:
        return run_trace(client, runtime, timeout)
    finally:
        client.close()


def trace(runtime: Runtime, token: str | None = None, timeout: float = 60.0) -> TraceReport:
    """Trace through an in-process app and worker (a temporary admin unless `token` is given)."""
    with temporary_admin(runtime) as admin, _in_process(runtime) as app:
        client = FlaskClient(app.test_client(), token or admin.token)
        report = run_trace(client, runtime, timeout)
    if admin.error and report.broken is not None:
        report.cleanup.append(admin.error)
    return report


@contextmanager
def _in_process(runtime: Runtime) -> Iterator[Flask]:
    app = create_app({"SCRAPER_RUNTIME": runtime, "TESTING": True})
    worker = Worker(runtime, concurrency=1)
    worker.start()
    try:
        yield app
    finally:
        worker.stop(timeout=10)
