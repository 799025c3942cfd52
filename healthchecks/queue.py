"""`queue:oldest_pending_age` and `jobs:expired_leases`: is the queue moving?"""

from __future__ import annotations

from typing import TYPE_CHECKING

from healthchecks.base import CheckResult, Fix, Status, guarded
from scraper.jobs.queries import read_snapshot

if TYPE_CHECKING:
    from scraper.runtime import Runtime

OLDEST_PENDING = "queue:oldest_pending_age"
EXPIRED_LEASES = "jobs:expired_leases"
BACKLOG_WARN_SECONDS = 600.0


@guarded(OLDEST_PENDING, unit="s", component_type="component")
def check_oldest_pending(runtime: Runtime) -> CheckResult:
    """Warn when the oldest pending job has waited longer than ten minutes."""
    snap = read_snapshot(runtime.Session, reads={"oldest", "pending"})
    age = round(snap.oldest_pending_seconds, 1)
    pending = snap.status_counts().get("pending", 0)
    evidence = {"pending_jobs": pending, "warn_after_seconds": BACKLOG_WARN_SECONDS}
    if age <= BACKLOG_WARN_SECONDS:
        return CheckResult(
            OLDEST_PENDING,
            Status.PASS,
            observed=age,
            unit="s",
            output=f"{pending} pending job(s); the oldest has waited {age:.0f} s.",
            evidence=evidence,
            component_type="component",
        )
    return CheckResult(
        OLDEST_PENDING,
        Status.WARN,
        observed=age,
        unit="s",
        output=(
            f"The oldest of {pending} pending job(s) has waited {age:.0f} s "
            f"(over {BACKLOG_WARN_SECONDS:.0f} s): workers are missing or too few; start more."
        ),
        fix="scraper worker",
        evidence=evidence,
        component_type="component",
    )


@guarded(EXPIRED_LEASES, unit="jobs", component_type="component")
def check_expired_leases(runtime: Runtime) -> CheckResult:
    """Warn when running jobs hold leases that have expired (their worker died)."""
    snap = read_snapshot(runtime.Session, reads={"expired"})
    stuck = snap.expired_leases
    if not stuck:
        return CheckResult(
            EXPIRED_LEASES,
            Status.PASS,
            observed=0,
            unit="jobs",
            output="No running job has an expired lease.",
            component_type="component",
        )
    return CheckResult(
        EXPIRED_LEASES,
        Status.WARN,
        observed=stuck,
        unit="jobs",
        output=(
            f"{stuck} running job(s) hold an expired lease: their worker died; "
            "requeue them (a live worker also does so within half a lease)."
        ),
        fix=Fix("ops doctor --heal", heal="requeue"),
        evidence={"expired_leases": stuck},
        component_type="component",
    )
