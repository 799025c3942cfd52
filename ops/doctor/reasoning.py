"""From check results to ONE root cause: rules in the order causes explain their symptoms.

An unreachable database explains a failing schema check; a drifted schema explains jobs in
the fallback store; dead workers explain an ageing queue. The first rule that matches is the
root cause, the others are listed below it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from healthchecks.base import CheckResult, Status
from healthchecks.refusal import Refusal, RefusalKind
from scraper.jobs.queries import lease_expired
from scraper.models import ScrapeJob, utcnow
from scraper.runtime import Runtime

Checks = dict[str, CheckResult]


@dataclass(frozen=True)
class RootCause:
    """A diagnosis: which check, what is wrong and why, what was seen, the command that fixes it.

    `severity` is fail (the service cannot accept, store, run or serve jobs) or warn; `heal`
    names the `ops doctor --heal` action that applies the fix (None: a person must).
    """

    check: str
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)
    fix: str = ""
    severity: Status = Status.FAIL
    heal: str | None = None
    error: Refusal | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "summary": self.summary,
            "evidence": self.evidence,
            "fix": self.fix,
            "severity": self.severity.value,
            "heal": self.heal,
            "fix_sql": getattr(self.fix, "sql", None),
            "error": self.error.to_json() if self.error else None,
        }


def cause_of(
    result: CheckResult, summary: str | None = None, severity: Status | None = None, **extra: Any
) -> RootCause:
    """A cause from a check result, its typed fix and refusal carried over."""
    remedy = result.remedy
    return RootCause(
        result.name,
        summary if summary is not None else result.output,
        extra.pop("evidence", result.evidence),
        extra.pop("fix", remedy or ""),
        severity if severity is not None else result.status,
        extra.pop("heal", remedy.heal if remedy else None),
        result.error,
    )


def failing(result: CheckResult | None) -> bool:
    """True when the check ran and did not pass (skipped or crashed checks are symptoms)."""
    if result is None or result.status is Status.PASS:
        return False
    return result.skipped_because is None and not result.errored


def errored(result: CheckResult) -> bool:
    """The check itself could not run (a missing table, say): a symptom, not a cause."""
    return result.errored


def _config(checks: Checks, runtime: Runtime | None) -> RootCause | None:
    for name in ("config:settings", "config:database_url"):
        result = checks.get(name)
        if result is not None and result.status is Status.FAIL:
            return cause_of(result)
    return None


def _unreachable(checks: Checks, runtime: Runtime | None) -> RootCause | None:
    result = checks.get("database:connection")
    if result is None or result.status is not Status.FAIL:
        return None
    summary = (
        f"{result.output.rstrip('.')}. Nothing can be read or stored: new jobs go to the "
        "fallback store and no worker can claim them."
    )
    return cause_of(result, summary)


SCHEMA_KINDS = {RefusalKind.UNKNOWN_COLUMN, RefusalKind.MISSING_TABLE}


def _locks(checks: Checks, runtime: Runtime | None) -> RootCause | None:
    """A session blocking others is a failing problem (jobs stall behind it); a long holder
    nobody waits on yet is a warning."""
    result = checks.get("database:locks")
    if not failing(result):
        return None
    assert result is not None
    blocked = bool(result.evidence.get("waiting"))
    return cause_of(result, severity=Status.FAIL if blocked else Status.WARN)


def _writes(checks: Checks, runtime: Runtime | None) -> RootCause | None:
    """The database refused the service's own writes: its words are the diagnosis."""
    result = checks.get("database:writes")
    if not failing(result):
        return None
    assert result is not None
    if result.error is not None and result.error.kind is RefusalKind.LOCKED:
        blocking = _locks(checks, runtime)
        if blocking is not None and blocking.severity is Status.FAIL:
            return None  # the lock rule names the blocking session and what it holds
    if result.error is not None and result.error.kind in SCHEMA_KINDS and not _hidden(checks):
        if failing(checks.get("schema:in_sync")):
            return None  # the schema rule names the same cause with the drift in full
    evidence = dict(result.evidence)
    held = _held(checks)
    if held:
        evidence["fallback_jobs"] = held
    return cause_of(result, evidence=evidence)


def _hidden(checks: Checks) -> bool:
    """The tables the schema check misses exist where this role cannot see them (the probe's
    refusal, explained): the fix is a grant or a search_path, never tables built anew."""
    result = checks.get("database:writes")
    return bool(failing(result) and result is not None and result.evidence.get("hidden"))


def _newer_release(checks: Checks) -> bool:
    """The database records a revision this code does not ship: a newer release migrated it."""
    result = checks.get("schema:migrations")
    return bool(result is not None and result.evidence.get("newer_than_code"))


def _schema(checks: Checks, runtime: Runtime | None) -> RootCause | None:
    result = checks.get("schema:in_sync")
    if not failing(result) or _hidden(checks):
        return None
    assert result is not None
    if "unverified" in result.evidence:  # only what this account may not see: said as is
        return cause_of(result)
    differences = result.evidence.get("differences", [])
    if _newer_release(checks) and not _critical(differences):
        return None  # the newer release's own additions: `_migrations` names that release
    evidence: dict[str, Any] = {"differences": [_brief(d) for d in differences]}
    held = _held(checks)
    if held:
        evidence["fallback_jobs"] = held
        evidence["database_refused_with"] = refusal_reasons(runtime)
    writes = checks.get("database:writes")
    if writes is not None and writes.error is not None:
        evidence["write_probe_refusal"] = writes.error.to_json()
    migrations = checks.get("schema:migrations")
    if migrations is not None and migrations.evidence.get("pending"):
        evidence["pending_migrations"] = migrations.evidence["pending"]
    if differences and all(d.get("kind") == "missing_table" for d in differences):
        summary = _no_tables_summary(differences, held)
        return cause_of(result, summary, evidence=evidence, fix="ops init-db", heal="init-db")
    summary = _drift_summary(differences, held, result)
    return cause_of(result, summary, evidence=evidence, **_drift_fix(differences))


def _critical(differences: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in differences if d.get("severity") == "critical"]


HARMLESS = (
    "none needed: no write the service makes fails because of it (`ops migrate "
    "--allow-destructive` would drop or narrow what is there, and the data with it)"
)


def _drift_fix(differences: list[dict[str, Any]]) -> dict[str, Any]:
    """`ops migrate` when it repairs what matters; otherwise what it would refuse, said so.

    A harmless difference never gets a fix that drops data: only an additive one, or none.
    """
    critical = _critical(differences)
    if not critical:  # the additive part of the repair, if any: never the dropping part
        if any(d.get("repair") == "safe" for d in differences):
            return {"fix": "ops migrate", "heal": "migrate"}
        return {"fix": HARMLESS, "heal": None}
    manual = [d for d in critical if d.get("repair") == "manual"]
    if manual:
        steps = "; ".join(str(d.get("fix") or d.get("why")) for d in manual[:3])
        return {"fix": f"by hand (ops migrate refuses this): {steps}", "heal": None}
    if any(d.get("repair") == "destructive" for d in critical):
        return {
            "fix": "ops migrate --allow-destructive  (back up first: it drops or narrows)",
            "heal": None,
        }
    return {"fix": "ops migrate", "heal": "migrate"}


def _migrations(checks: Checks, runtime: Runtime | None) -> RootCause | None:
    """Pending revisions with the schema otherwise in sync: still run them (a warning)."""
    result = checks.get("schema:migrations")
    if not failing(result):
        return None
    if failing(checks.get("schema:in_sync")) and not _newer_release(checks):
        return None
    assert result is not None
    return cause_of(result)


def _brief(difference: dict[str, Any]) -> dict[str, Any]:
    keys = ("table", "column", "kind", "severity", "expected", "actual", "repair")
    return {key: difference.get(key) for key in keys if difference.get(key) is not None}


def _no_tables_summary(differences: list[dict[str, Any]], held: int) -> str:
    tables = ", ".join(sorted(d["table"] for d in differences))
    waiting = f"; {held} job(s) wait in the fallback store" if held else ""
    return (
        f"The database is missing the tables the service needs ({tables}): it was never "
        f"initialized, so every job write fails{waiting}."
    )


def _drift_summary(differences: list[dict[str, Any]], held: int, result: CheckResult) -> str:
    critical = [d for d in differences if d.get("severity") == "critical"]
    if not critical:
        return f"{result.output} No write the service makes fails because of it."
    parts = [_describe(d) for d in critical[:3]]
    consequence = (
        f"job inserts fail and {held} job(s) pile up in the fallback store"
        if held
        else "the service's writes of these tables fail"
    )
    return f"The schema has drifted from the models: {'; '.join(parts)}: {consequence}."


def _describe(difference: dict[str, Any]) -> str:
    table, column, kind = difference.get("table"), difference.get("column"), difference.get("kind")
    if kind == "missing_column":
        return f"table {table} has no column {column}, which the models write"
    if kind == "missing_table":
        return f"table {table} is missing"
    where = f"{table}.{column}" if column else str(table)
    expected, actual = difference.get("expected"), difference.get("actual")
    return f"{kind} on {where} (expected {expected}, found {actual})"


def _storage(checks: Checks, runtime: Runtime | None) -> RootCause | None:
    for name in ("config:data_dir", "storage:writable", "storage:free_space"):
        result = checks.get(name)
        if result is not None and result.status is Status.FAIL:
            summary = f"{result.output.rstrip('.')}: downloads will fail and jobs cannot finish."
            return cause_of(result, summary)
    data_dir = checks.get("config:data_dir")
    if data_dir is not None and data_dir.status is Status.WARN:
        return cause_of(data_dir)
    return None


def _clock(checks: Checks, runtime: Runtime | None) -> RootCause | None:
    """A clock ahead makes dead workers look alive: a failure while jobs wait on them."""
    result = checks.get("clock:skew")
    if not failing(result):
        return None
    assert result is not None
    beat = checks.get("worker:heartbeat")
    waiting = int((beat.evidence if beat else {}).get("pending_jobs", 0) or 0)
    stalled = bool(result.evidence.get("heartbeats_from_the_future")) and waiting > 0
    evidence = {**result.evidence, "pending_jobs": waiting}
    summary = result.output + (
        f" {waiting} pending job(s) wait for a worker that may be dead." if stalled else ""
    )
    return cause_of(result, summary, Status.FAIL if stalled else Status.WARN, evidence=evidence)


def _expired_leases(checks: Checks, runtime: Runtime | None) -> RootCause | None:
    result = checks.get("jobs:expired_leases")
    if not failing(result):
        return None
    assert result is not None
    stuck = stuck_jobs(runtime)
    workers = sorted({job["locked_by"] for job in stuck if job.get("locked_by")})
    summary = (
        f"{result.observed} job(s) are stuck in 'running' with an expired lease: their worker "
        f"({', '.join(workers) or 'unknown'}) died without releasing them. Requeue them."
    )
    return cause_of(result, summary, Status.FAIL, evidence={"stuck_jobs": stuck}, heal="requeue")


def _fallback_waiting(checks: Checks, runtime: Runtime | None) -> RootCause | None:
    result = checks.get("fallback:jobs")
    if not failing(result):
        return None
    assert result is not None
    refused = any(
        failing(checks.get(n)) for n in ("schema:in_sync", "database:connection", "database:writes")
    )
    if refused:
        summary = (
            f"{result.observed} job(s) are held in the fallback store because the database "
            "refused them; once the root cause is fixed, reconcile them (--heal does both)."
        )
    else:
        summary = (
            f"{result.observed} job(s) wait in the fallback store although the database accepts "
            "writes again: they have not been reconciled, so no worker will run them."
        )
    return cause_of(result, summary, Status.FAIL, fix="ops reconcile", heal="reconcile")


def _no_worker(checks: Checks, runtime: Runtime | None) -> RootCause | None:
    beat, queue = checks.get("worker:heartbeat"), checks.get("queue:oldest_pending_age")
    pending = int((beat.evidence if beat else {}).get("pending_jobs", 0) or 0)
    if not ((failing(beat) and pending) or failing(queue)):
        return None
    chosen = beat if failing(beat) and pending else queue
    assert chosen is not None
    evidence = {
        "heartbeat": beat.output if beat else None,
        "queue": queue.output if queue else None,
    }
    evidence.update(chosen.evidence)
    return cause_of(chosen, None, Status.FAIL, evidence=evidence, fix="scraper worker")


def _recent_failures(checks: Checks, runtime: Runtime | None) -> RootCause | None:
    result = checks.get("jobs:recent_failures")
    return cause_of(result) if failing(result) and result is not None else None


def _anything_else(checks: Checks, runtime: Runtime | None) -> list[RootCause]:
    return [
        cause_of(r)
        for r in checks.values()
        if r.status is Status.FAIL and r.skipped_because is None
    ]


RULES: list[Callable[[Checks, Runtime | None], RootCause | None]] = [
    _config,
    _unreachable,
    _locks,
    _writes,
    _schema,
    _migrations,
    _storage,
    _clock,
    _expired_leases,
    _fallback_waiting,
    _no_worker,
    _recent_failures,
]


def find_causes(checks: Checks, runtime: Runtime | None) -> list[RootCause]:
    """Every problem, failures first (most fundamental first), then warnings."""
    causes = [cause for rule in RULES if (cause := rule(checks, runtime)) is not None]
    named = {cause.check for cause in causes}
    covered = named | {"config:data_dir", "storage:writable", "storage:free_space"}
    if "schema:in_sync" in named:  # the probe's missing column is the drift already named
        covered.add("database:writes")
    if "database:locks" in named and "database:writes" not in named:  # it waited on that lock
        covered.add("database:writes")
    others = [c for c in _anything_else(checks, runtime) if c.check not in covered]
    if causes:  # a check that crashed because of a named cause adds nothing
        others = [c for c in others if not errored(checks[c.check])]
    ordered = causes + others
    return [c for c in ordered if c.severity is Status.FAIL] + [
        c for c in ordered if c.severity is not Status.FAIL
    ]


def _held(checks: Checks) -> int:
    result = checks.get("fallback:jobs")
    return int(result.observed or 0) if result is not None and failing(result) else 0


def refusal_reasons(runtime: Runtime | None, limit: int = 3) -> list[str]:
    """The database's own words for the jobs it refused, from the fallback journal."""
    if runtime is None or not runtime.fallback.journal.exists():
        return []
    reasons: list[str] = []
    for line in runtime.fallback.journal.read_text(errors="replace").splitlines():
        try:
            reason = json.loads(line).get("reason")
        except ValueError:
            continue
        if reason and reason not in reasons:
            reasons.append(reason)
    return reasons[-limit:]


def stuck_jobs(runtime: Runtime | None, limit: int = 10) -> list[dict[str, Any]]:
    """Running jobs whose lease ran out, with the worker that held them."""
    if runtime is None:
        return []
    stmt = (
        select(ScrapeJob.id, ScrapeJob.locked_by, ScrapeJob.lease_expires_at, ScrapeJob.attempts)
        .where(*lease_expired(utcnow()))
        .limit(limit)
    )
    try:
        with runtime.Session() as s:
            rows = s.execute(stmt).all()
    except Exception:  # evidence only: the check already counted them
        return []
    return [
        {"job_id": r[0], "locked_by": r[1], "lease_expired_at": str(r[2]), "attempts": r[3]}
        for r in rows
    ]
