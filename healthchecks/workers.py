"""`worker:heartbeat`: has a worker written its heartbeat recently?

A missing worker warns rather than fails: the web tier can still accept jobs (they wait in
the database), so readiness should not pull it out of a load balancer; `ops doctor` and the
`ScraperNoWorkerHeartbeat` alert make the warning loud.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from healthchecks.base import CheckResult, Status, guarded
from scraper.jobs.queries import read_snapshot
from scraper.jobs.workers import list_workers
from scraper.models import utcnow

if TYPE_CHECKING:
    from scraper.runtime import Runtime

NAME = "worker:heartbeat"
MIN_FRESH_SECONDS = 30.0
FUTURE_TOLERANCE = 5.0


def fresh_within(runtime: Runtime) -> float:
    """How old the newest heartbeat may be: two leases, at least 30 s."""
    return max(MIN_FRESH_SECONDS, 2.0 * runtime.settings.lease_seconds)


@guarded(NAME, unit="s", component_type="component")
def check(runtime: Runtime) -> CheckResult:
    """Pass when a running worker beat within `fresh_within`; warn otherwise."""
    snap = read_snapshot(runtime.Session, reads={"workers", "pending"})
    limit = fresh_within(runtime)
    running = [w for w in snap.workers if w.state != "stopped"]
    ages = {w.id: (snap.taken_at - w.last_seen_at).total_seconds() for w in running}
    # A beat from the future is a skewed clock, not a live worker (see clock:skew).
    fresh = sorted(w for w, age in ages.items() if -FUTURE_TOLERANCE <= age <= limit)
    future = sorted(w for w, age in ages.items() if age < -FUTURE_TOLERANCE)
    newest = min((a for a in ages.values() if a >= -FUTURE_TOLERANCE), default=None)
    evidence = {"fresh_workers": fresh, "fresh_within_seconds": limit, "future_workers": future}
    failing = _claim_failures(runtime, set(fresh))
    if failing:
        return CheckResult(
            NAME,
            Status.WARN,
            observed=round(newest or 0.0, 1),
            unit="s",
            output=f"{failing[0]} (worker {failing[1]}); run `ops doctor`.",
            fix="ops doctor",
            evidence={**evidence, "claim_error": failing[0], "worker": failing[1]},
            component_type="component",
        )
    if fresh:
        return CheckResult(
            NAME,
            Status.PASS,
            observed=round(newest or 0.0, 1),
            unit="s",
            output=f"{len(fresh)} worker(s) sent a heartbeat within {limit:.0f} s.",
            evidence=evidence,
            component_type="component",
        )
    pending = snap.status_counts().get("pending", 0)
    last = "no worker has sent a heartbeat in the last hour"
    if newest is not None:
        last = f"the newest heartbeat is {newest:.0f} s old"
    return CheckResult(
        NAME,
        Status.WARN,
        observed=None if newest is None else round(newest, 1),
        unit="s",
        output=f"No worker is running: {last}, and {pending} pending job(s) wait; start one.",
        fix="scraper worker",
        evidence={**evidence, "pending_jobs": pending},
        component_type="component",
    )


def _claim_failures(runtime: Runtime, fresh: set[str]) -> tuple[str, str] | None:
    """(`claims are failing: <reason>`, worker) of a live worker that cannot claim, or None."""
    # a day back: the fresh ones are in it whatever this host's clock says
    for worker in list_workers(runtime.Session, since=utcnow() - timedelta(days=1)):
        if worker.id in fresh and worker.last_error:
            return worker.last_error, worker.id
    return None
