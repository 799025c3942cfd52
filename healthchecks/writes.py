"""`database:writes`: does the database accept the writes the service makes? (the write probe)"""

from __future__ import annotations

from typing import TYPE_CHECKING

from healthchecks.base import CheckResult, Status, guarded
from healthchecks.probe import probe_writes
from healthchecks.remedy import explain
from scraper.db import unbounded

if TYPE_CHECKING:
    from scraper.runtime import Runtime

NAME = "database:writes"


@guarded(NAME, unit="ms", component_type="datastore")
def check(runtime: Runtime) -> CheckResult:
    """Replay the service's writes, rolled back; fail with the database's classified refusal."""
    report = probe_writes(runtime.engine, runtime.settings.database_url)
    steps = [step.to_json() for step in report.steps]
    refusal = report.refusal
    if refusal is None:
        return CheckResult(
            NAME,
            Status.PASS,
            observed=report.elapsed_ms,
            unit="ms",
            output=f"The database accepted the service's {len(steps)} writes (rolled back).",
            evidence={"writes": steps, "coverage": report.coverage_json()},
            component_type="datastore",
        )
    with unbounded():  # the limit named is the one the worker's writes meet
        why = explain(refusal, runtime.engine, runtime.settings.database_url)
    refused = report.refused[0]
    return CheckResult(
        NAME,
        Status.FAIL,
        observed=report.elapsed_ms,
        unit="ms",
        output=why.summary,
        fix=why.fix,
        evidence={
            "refused_write": refused.name,
            "refusal": refusal.to_json(),
            **why.evidence,
            "writes": steps,
        },
        component_type="datastore",
        error=refusal,
    )
