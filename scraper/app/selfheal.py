"""Self-healing while running (SCRAPER_AUTO_HEAL=safe): the fixes `ops doctor --heal` may apply.

Every interval the healer asks the HealthMonitor for fresh results. When the write probe
shows writes refused for a reason the additive repair fixes (a missing column or table, an
extra NOT NULL column, a narrowed column) it runs `ops.schema.auto_heal` (the same entry
point, and so the same database lock, as the start-up repair); it requeues jobs whose lease
expired, and reconciles held jobs once writes are accepted. Each change is logged, counted
in `scraper_self_heal_total{action}` and kept for the dashboard; so is a repair that failed
(rows violating the key it adds, a lock that stayed busy), as an event with ok false.
"""

from __future__ import annotations

import logging

from healthchecks import CheckResult, Status
from healthchecks.monitor import HealEvent, monitor_for
from ops.errors import OpsError
from scraper.counters import SELF_HEAL
from scraper.migrations.manage import auto_heal
from scraper.periodic import Periodic
from scraper.runtime import Runtime

log = logging.getLogger(__name__)


class SelfHealer:
    """Background thread: heal what is safe every `interval` seconds (it reconciles too)."""

    def __init__(self, runtime: Runtime, interval: float | None = None) -> None:
        every = interval if interval is not None else runtime.settings.reconcile_interval
        self.runtime = runtime
        self.monitor = monitor_for(runtime)
        self._thread = Periodic("self-healer", every, self.heal_once)

    def start(self) -> None:
        """Start healing in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the background thread."""
        self._thread.stop()

    def heal_once(self) -> list[HealEvent]:
        """One pass: repair the schema if writes need it, requeue, reconcile; what was done."""
        checks = {r.name: r for r in self.monitor.results(max_age=0)}
        events = [
            event
            for event in (
                self.repair(checks.get("database:writes")),
                self._requeue(checks.get("jobs:expired_leases")),
                self._reconcile(),
            )
            if event is not None
        ]
        return events

    def repair(self, writes: CheckResult | None) -> HealEvent | None:
        """Run the additive repair when the write probe's refusal is one it fixes."""
        remedy = writes.remedy if writes is not None else None
        if writes is None or writes.status is Status.PASS or remedy is None:
            return None
        if remedy.heal != "migrate":
            return None
        try:
            report = auto_heal(self.runtime.engine)  # online only: never a blocking repair
        except OpsError as exc:  # e.g. rows violate the key being added: a person must act
            return self._record("migrate", False, str(exc))
        applied = ", ".join(f"{d.kind} {d.table}.{d.column or ''}" for d in report.applied)
        held = [r for r in report.refused if r.remedy == "--allow-blocking"]
        detail = applied or "nothing to apply"
        if held:
            detail += "; left for `ops migrate --allow-blocking`: "
            detail += "; ".join(f"{r.kind} {r.table}: {r.reason}" for r in held)
        return self._record("migrate", report.in_sync, detail)

    def _requeue(self, leases: CheckResult | None) -> HealEvent | None:
        if leases is None or leases.status is Status.PASS:
            return None
        result = self.runtime.rescue_expired()
        if not (result.requeued or result.failed):
            return None
        detail = f"requeued {len(result.requeued)}, failed {len(result.failed)} (lease expired)"
        return self._record("requeue", True, detail)

    def _reconcile(self) -> HealEvent | None:
        if not self.runtime.fallback.waiting():
            return None
        result = self.runtime.jobs.reconcile()
        if not result.moved:
            return None
        detail = f"moved {len(result.moved)} held job(s) into the database"
        return self._record("reconcile", not result.failed, detail)

    def _record(self, action: str, ok: bool, detail: str) -> HealEvent:
        SELF_HEAL.labels(action=action).inc()
        log.warning("self-heal %s: %s", action, detail)
        return self.monitor.record_heal(action, ok, detail)
