"""Every check by name, in the order a diagnosis reads them, and `run_checks`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from healthchecks import (
    clock,
    database,
    failures,
    fallback,
    locks,
    migrations,
    queue,
    schedules,
    schema,
    storage,
    workers,
    writes,
)
from healthchecks.base import CheckResult, Status

if TYPE_CHECKING:
    from scraper.runtime import Runtime

CheckFn = Callable[["Runtime"], CheckResult]


@dataclass(frozen=True)
class Check:
    """A named check; `needs_database` ones are not run when the database is unreachable."""

    name: str
    run: CheckFn
    needs_database: bool = True
    unit: str | None = None


CHECKS: dict[str, Check] = {
    check.name: check
    for check in (
        Check(database.NAME, database.check, needs_database=False, unit="ms"),
        Check(writes.NAME, writes.check, unit="ms"),
        Check(locks.NAME, locks.check, unit="sessions"),
        Check(schema.NAME, schema.check, unit="differences"),
        Check(migrations.NAME, migrations.check, unit="revisions"),
        Check(workers.NAME, workers.check, unit="s"),
        Check(clock.NAME, clock.check, unit="s"),
        Check(queue.OLDEST_PENDING, queue.check_oldest_pending, unit="s"),
        Check(queue.EXPIRED_LEASES, queue.check_expired_leases, unit="jobs"),
        Check(failures.NAME, failures.check, unit="jobs"),
        Check(schedules.NAME, schedules.check, unit="schedules"),
        Check(storage.WRITABLE, storage.check_writable, needs_database=False),
        Check(storage.FREE_SPACE, storage.check_free_space, needs_database=False, unit="bytes"),
        Check(fallback.NAME, fallback.check, needs_database=False, unit="jobs"),
    )
}


def select_checks(names: Iterable[str] | None = None) -> list[Check]:
    """The checks named (full `component:measurement` or a component like `storage`)."""
    if names is None:
        return list(CHECKS.values())
    wanted = list(names)
    unknown = [n for n in wanted if n not in CHECKS and not _component_exists(n)]
    if unknown:
        raise KeyError(f"unknown check(s): {', '.join(unknown)}; known: {', '.join(CHECKS)}")
    return [c for c in CHECKS.values() if c.name in wanted or c.name.split(":")[0] in wanted]


def _component_exists(component: str) -> bool:
    return any(name.split(":")[0] == component for name in CHECKS)


def _skipped(check: Check, cause: CheckResult) -> CheckResult:
    return CheckResult(
        check.name,
        Status.FAIL,
        unit=check.unit,
        output=f"Not checked: the database is unreachable ({cause.output.rstrip('.')}).",
        fix=cause.fix,
        evidence={"skipped_because": cause.name},
        skipped_because=cause.name,
    )


def run_checks(runtime: Runtime, names: Iterable[str] | None = None) -> list[CheckResult]:
    """Run the checks (all by default) and return their results; never raises for a check.

    The database check runs first when any selected check needs it; if it fails, those
    checks report the unreachable database instead of each waiting on it again.
    """
    chosen = select_checks(names)
    connection: CheckResult | None = None
    if any(c.needs_database for c in chosen):
        connection = database.check(runtime)
    results = []
    for check in chosen:
        if check.name == database.NAME and connection is not None:
            results.append(connection)
        elif check.needs_database and connection is not None and not connection.ok:
            results.append(_skipped(check, connection))
        else:
            results.append(check.run(runtime))
    return results
