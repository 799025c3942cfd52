"""The hops of a trace, in the order a job travels: each returns a `Hop` with its evidence."""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text

from ops.trace.client import ApiClient, HttpClient, TraceCannotRun
from ops.trace.report import FAIL, PASS, Hop
from scraper.errors import one_line
from scraper.jobs.workers import list_workers
from scraper.models import FINAL_STATUSES, JobStatus
from scraper.runtime import Runtime
from scraper.sources.selftest import make_png
from scraper.storage import FileMissing, StorageError, stored_key

FINAL = frozenset(status.value for status in FINAL_STATUSES)
COMPLETED = JobStatus.COMPLETED.value
POLL = 0.2


@dataclass
class TraceState:
    """What the hops learn as they go: the job id, its latest API view, the expected files."""

    client: ApiClient
    runtime: Runtime
    timeout: float
    items: int = 3
    query: str = field(default_factory=lambda: f"ops-trace-{uuid.uuid4().hex[:10]}")
    job_id: str = ""
    accepted: dict[str, Any] = field(default_factory=dict)
    latest: dict[str, Any] = field(default_factory=dict)
    deadline: float = 0.0

    @property
    def expected(self) -> dict[str, bytes]:
        """sha256 -> bytes of the files the selftest source makes for this query."""
        blobs = [make_png(f"{self.query}/{i}") for i in range(1, self.items + 1)]
        return {hashlib.sha256(blob).hexdigest(): blob for blob in blobs}

    def sql(self, statement: str, **params: Any) -> list[tuple[Any, ...]]:
        with self.runtime.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(statement), params)]

    def poll_job(self) -> dict[str, Any]:
        reply = self.client.get(f"/api/job-progress/{self.job_id}")
        body = reply.json()
        if reply.status == 200 and isinstance(body, dict):
            self.latest = body
        return self.latest


Check = Callable[[TraceState], tuple[bool, str, dict[str, Any]]]


def api_accepted(state: TraceState) -> tuple[bool, str, dict[str, Any]]:
    """POST a selftest search; the API must answer 201 with a job id."""
    payload = {
        "query": state.query,
        "max_content": state.items,
        "safe_search": True,
        "enabled_sources": ["selftest"],
    }
    reply = state.client.post("/api/comprehensive-search", payload)
    evidence = {"request": "POST /api/comprehensive-search", "http_status": reply.status}
    evidence["response"] = reply.json() if reply.json() is not None else reply.excerpt()
    body = reply.json()
    if reply.status in (401, 403) and isinstance(state.client, HttpClient):
        raise TraceCannotRun(
            f"the API refused the request (HTTP {reply.status}): "
            "pass --token or set SCRAPER_API_TOKEN (`scraper create-token NAME` makes one)"
        )
    if reply.status != 201 or not isinstance(body, dict) or not body.get("job_id"):
        return (
            False,
            f"the API did not accept the job: HTTP {reply.status} {reply.excerpt()}",
            (evidence),
        )
    state.job_id, state.accepted = str(body["job_id"]), body
    storage = body.get("storage")
    return True, f"job {state.job_id} accepted (HTTP 201, storage: {storage})", evidence


def database_row(state: TraceState) -> tuple[bool, str, dict[str, Any]]:
    """The job must be a row in scrape_jobs, not held in the fallback store."""
    statement = "SELECT count(*) FROM scrape_jobs WHERE id = :id"
    evidence: dict[str, Any] = {"sql": statement.replace(":id", repr(state.job_id))}
    count, error = _count(state, statement)
    evidence["count"] = count if error is None else error
    if state.accepted.get("storage") == "fallback":
        reason = state.accepted.get("refusal") or "no reason given"
        evidence["warning"] = state.accepted.get("warning")
        return (
            False,
            (
                f"API accepted job {state.job_id}, but scrape_jobs has no such row: the job is in "
                f"the fallback store because the database refused the insert: {reason}"
            ),
            evidence,
        )
    if error is not None:
        return False, f"cannot read scrape_jobs: {error}", evidence
    if count != 1:
        return False, f"API accepted job {state.job_id}, but scrape_jobs has {count} rows", evidence
    return True, f"scrape_jobs has the row for job {state.job_id}", evidence


def worker_claimed(state: TraceState) -> tuple[bool, str, dict[str, Any]]:
    """A worker must claim the job (status leaves `pending`, `locked_by` names the worker)."""
    started = time.monotonic()
    job = _wait(state, lambda j: j.get("status") != JobStatus.PENDING or bool(j.get("locked_by")))
    waited = round(time.monotonic() - started, 2)
    evidence = {"status": job.get("status"), "locked_by": job.get("locked_by"), "waited_s": waited}
    if job.get("status") == JobStatus.PENDING:
        evidence["workers"] = _workers(state)
        return (
            False,
            (f"job {state.job_id} is still pending after {waited}s: no worker claimed it"),
            evidence,
        )
    if not job.get("locked_by"):
        return False, f"job {state.job_id} is {job.get('status')} but no worker holds it", evidence
    return True, f"claimed by worker {job['locked_by']} after {waited}s", evidence


def progress_moving(state: TraceState) -> tuple[bool, str, dict[str, Any]]:
    """Progress must move to 100% and the job complete with every item downloaded."""
    seen: list[int] = []

    def done(job: dict[str, Any]) -> bool:
        if not seen or seen[-1] != job.get("progress"):
            seen.append(int(job.get("progress") or 0))
        return job.get("status") in FINAL

    job = _wait(state, done)
    evidence = {
        "progress_seen": seen,
        "status": job.get("status"),
        "downloaded": job.get("downloaded"),
        "message": job.get("message"),
    }
    if job.get("status") == JobStatus.COMPLETED and job.get("downloaded") == state.items:
        return True, f"progress {seen} → completed, {state.items} files", evidence
    if job.get("status") in FINAL:
        evidence["error"] = job.get("error")
        return (
            False,
            f"job ended {job.get('status')}: {job.get('error') or job.get('message')}",
            (evidence),
        )
    return False, f"progress stuck at {job.get('progress')}% ({job.get('message')})", evidence


def files_on_disk(state: TraceState) -> tuple[bool, str, dict[str, Any]]:
    """Each expected file must be in the storage backend with the right sha256 (else via the
    API, for a trace against a server whose storage this process cannot see)."""
    files = state.runtime.files
    found: dict[str, str] = {}
    evidence: dict[str, Any] = {"storage": files.url}
    for digest in state.expected:
        key = stored_key(digest, "image/png")
        try:
            blob = files.read_bytes(key)
        except FileMissing:
            continue
        except StorageError as exc:  # the backend's own words are the evidence
            evidence["storage_error"] = str(exc)
            break
        if hashlib.sha256(blob).hexdigest() == digest:
            found[digest] = key
    missing = [d for d in state.expected if d not in found]
    if missing:
        found.update(_files_via_api(state, missing))
    missing = [d for d in state.expected if d not in found]
    evidence["files"] = sorted(found.values())
    if missing:
        evidence["missing_sha256"] = missing
        return False, f"{len(missing)} of {state.items} files missing or wrong hash", evidence
    return True, f"{state.items} files stored in {files.url}, sha256 verified", evidence


def asset_rows(state: TraceState) -> tuple[bool, str, dict[str, Any]]:
    """assets must hold one row per file, with the expected hashes."""
    statement = "SELECT sha256 FROM assets WHERE job_id = :id"
    evidence: dict[str, Any] = {"sql": statement.replace(":id", repr(state.job_id))}
    try:
        hashes = {row[0] for row in state.sql(statement, id=state.job_id)}
    except Exception as exc:  # the database's own words are the evidence
        evidence["error"] = one_line(exc)
        return False, f"cannot read assets: {one_line(exc)}", evidence
    evidence["count"] = len(hashes)
    if hashes != set(state.expected):
        evidence["unexpected"] = sorted(hashes - set(state.expected))
        return False, f"assets has {len(hashes)} matching rows, expected {state.items}", evidence
    return True, f"assets has {len(hashes)} rows with the expected sha256", evidence


def api_listed(state: TraceState) -> tuple[bool, str, dict[str, Any]]:
    """GET /api/jobs?status=completed must list the job, stored in the database."""
    path = f"/api/jobs?status={COMPLETED}&limit=100"
    reply = state.client.get(path)
    body = reply.json() if isinstance(reply.json(), dict) else {}
    mine = [j for j in body.get("jobs", []) if (j.get("job_id") or j.get("id")) == state.job_id]
    evidence = {"request": f"GET {path}", "http_status": reply.status, "total": body.get("total")}
    if reply.status != 200 or not mine:
        evidence["response"] = reply.excerpt()
        return False, f"/api/jobs?status={COMPLETED} does not list job {state.job_id}", evidence
    evidence["storage"] = mine[0].get("storage")
    return True, f"listed among {body.get('total')} completed jobs", evidence


METRIC = re.compile(
    rf'^scraper_jobs_in_database\{{[^}}]*status="{COMPLETED}"[^}}]*\}}\s+(\S+)', re.M
)


def metrics_counted(state: TraceState) -> tuple[bool, str, dict[str, Any]]:
    """GET /metrics must count completed jobs in the database (this one included)."""
    reply = state.client.get("/metrics")
    match = METRIC.search(reply.text) if reply.status == 200 else None
    evidence: dict[str, Any] = {"request": "GET /metrics", "http_status": reply.status}
    if match is None:
        evidence["response"] = reply.excerpt()
        return False, f'no scraper_jobs_in_database{{status="{COMPLETED}"}} in /metrics', evidence
    value = float(match.group(1))
    evidence["line"] = match.group(0)
    count, error = _count(state, f"SELECT count(*) FROM scrape_jobs WHERE status = '{COMPLETED}'")
    evidence["sql_completed"] = count if error is None else error
    if value < 1:
        return False, f"/metrics counts {value:g} completed jobs; this one is not counted", evidence
    return True, f"/metrics counts {value:g} completed jobs in the database", evidence


HOPS: list[tuple[str, Check]] = [
    ("api:accepted", api_accepted),
    ("database:row", database_row),
    ("worker:claimed", worker_claimed),
    ("job:progress", progress_moving),
    ("files:on_disk", files_on_disk),
    ("assets:rows", asset_rows),
    ("api:listed", api_listed),
    ("metrics:counted", metrics_counted),
]


def run_hop(name: str, check: Check, state: TraceState) -> Hop:
    """Run one hop, timing it; an unexpected error is that hop's failure, not the trace's."""
    started = time.monotonic()
    try:
        ok, summary, evidence = check(state)
    except TraceCannotRun:
        raise
    except Exception as exc:  # a broken hop must still be reported with what was seen
        ok, summary, evidence = False, one_line(exc, kind=True), {}
    return Hop(name, PASS if ok else FAIL, round(time.monotonic() - started, 3), summary, evidence)


# -- helpers ---------------------------------------------------------------------------------


def _wait(state: TraceState, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    while True:
        job = state.poll_job()
        if done(job) or time.monotonic() >= state.deadline:
            return job
        time.sleep(POLL)


def _count(state: TraceState, statement: str) -> tuple[int, str | None]:
    try:
        rows = state.sql(statement, id=state.job_id)
    except Exception as exc:  # report the database's reason as evidence
        return 0, one_line(exc)
    return int(rows[0][0]), None


def _workers(state: TraceState) -> list[dict[str, Any]] | str:
    try:
        workers = list_workers(state.runtime.Session)
    except Exception as exc:  # evidence only
        return one_line(exc)
    return [{"id": w.id, "state": w.state, "last_seen_at": str(w.last_seen_at)} for w in workers]


def _files_via_api(state: TraceState, wanted: list[str]) -> dict[str, str]:
    reply = state.client.get(f"/api/assets?job_id={state.job_id}")
    body = reply.json()
    found: dict[str, str] = {}
    if reply.status != 200 or not isinstance(body, dict):
        return found
    for asset in body.get("assets", []):
        if asset.get("sha256") in wanted:
            blob = state.client.get(f"/api/assets/{asset['id']}/file")
            if blob.status == 200 and hashlib.sha256(blob.body).hexdigest() == asset["sha256"]:
                found[asset["sha256"]] = f"GET /api/assets/{asset['id']}/file"
    return found
