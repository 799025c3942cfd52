"""`fallback:jobs`: are jobs waiting outside the database (the journal of refused writes)?

A held job is invisible to workers until it is reconciled: the exact failure the service
exists to prevent, so any held job fails readiness. A quarantined job (the database refused it
the same way again and again: input it can never store) only warns: it would otherwise keep
the instance out of the load balancer for good, and no restart or reconcile can change that.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from healthchecks.base import CheckResult, Fix, Status, guarded

if TYPE_CHECKING:
    from scraper.jobs import JobRecord
    from scraper.runtime import Runtime

NAME = "fallback:jobs"
SHOWN = 10


@guarded(NAME, unit="jobs", component_type="datastore")
def check(runtime: Runtime) -> CheckResult:
    """Fail while the fallback journal holds jobs the database has not taken back."""
    held = runtime.fallback.jobs()
    jobs = [job for job in held if not job.quarantined]
    journal = str(runtime.fallback.journal)
    if not jobs and len(held):
        return _quarantined_only(held, journal)
    if not jobs:
        return CheckResult(
            NAME,
            Status.PASS,
            observed=0,
            unit="jobs",
            output="No job is held outside the database.",
            evidence={"journal": journal},
            component_type="datastore",
        )
    oldest = jobs[0].created_at
    age = (datetime.now(UTC) - oldest).total_seconds() if oldest else None
    waited = f", the oldest for {age:.0f} s" if age is not None else ""
    return CheckResult(
        NAME,
        Status.FAIL,
        observed=len(jobs),
        unit="jobs",
        output=(
            f"{len(jobs)} job(s) are held in the fallback journal{waited} because the database "
            "refused them; no worker will run them until they are reconciled."
        ),
        fix=Fix("ops reconcile", heal="reconcile"),
        evidence={
            "journal": journal,
            "job_ids": [job.id for job in jobs[:SHOWN]],
            "oldest_age_seconds": None if age is None else round(age, 1),
        },
        component_type="datastore",
    )


def _quarantined_only(held: list[JobRecord], journal: str) -> CheckResult:
    return CheckResult(
        NAME,
        Status.WARN,
        observed=0,
        unit="jobs",
        output=(
            f"{len(held)} job(s) are quarantined: the database refused them repeatedly for the "
            "same reason; see `ops jobs --storage fallback`."
        ),
        fix="ops jobs --storage fallback",
        evidence={
            "journal": journal,
            "quarantined": {job.id: job.quarantined for job in held[:SHOWN]},
        },
        component_type="datastore",
    )
