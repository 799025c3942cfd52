"""One HealthMonitor per runtime: the checks evaluated at most once per few seconds.

`/readyz`, the dashboard's health panel, the metrics and `ops doctor` read the same results
(the doctor asks for fresh ones). It also keeps what the running service healed by itself,
so the dashboard can show it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from healthchecks.base import CheckResult
from healthchecks.registry import run_checks, select_checks

if TYPE_CHECKING:
    from scraper.runtime import Runtime

DEFAULT_TTL = 5.0
KEPT_HEALS = 20
_ATTACH_LOCK = threading.Lock()
_ATTRIBUTE = "health_monitor"


@dataclass(frozen=True)
class HealEvent:
    """A fix the running service applied to itself: when, which action, what changed."""

    at: datetime
    action: str
    ok: bool
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "action": self.action,
            "ok": self.ok,
            "detail": self.detail,
        }


class HealthMonitor:
    """Evaluate every check at most once per `ttl` seconds; concurrent readers share one run."""

    def __init__(
        self,
        runtime: Runtime,
        ttl: float = DEFAULT_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.runtime = runtime
        self.ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._results: list[CheckResult] | None = None
        self._at = 0.0
        self.heals: deque[HealEvent] = deque(maxlen=KEPT_HEALS)

    def results(
        self, names: Iterable[str] | None = None, max_age: float | None = None
    ) -> list[CheckResult]:
        """The latest results (of the checks named), evaluated again when older than allowed."""
        limit = self.ttl if max_age is None else max_age
        if limit <= 0 and names is not None:  # a fresh partial run (the doctor's) is not cached
            return run_checks(self.runtime, names)
        with self._lock:
            if self._results is None or self._clock() - self._at >= limit or limit <= 0:
                self._results = run_checks(self.runtime)
                self._at = self._clock()
            results = self._results
        if names is None:
            return list(results)
        wanted = {check.name for check in select_checks(names)}
        return [r for r in results if r.name in wanted]

    def invalidate(self) -> None:
        """Forget the cached results (after a change such as a heal)."""
        with self._lock:
            self._results = None

    def record_heal(self, action: str, ok: bool, detail: str) -> HealEvent:
        """Remember a self-heal for the dashboard; the caller logs and counts it."""
        event = HealEvent(datetime.now(UTC), action, ok, detail)
        self.heals.append(event)
        self.invalidate()
        return event


def monitor_for(runtime: Runtime) -> HealthMonitor:
    """The runtime's one HealthMonitor, made on first use (the runtime stays unaware of it)."""
    monitor = runtime.__dict__.get(_ATTRIBUTE)
    if monitor is None:
        with _ATTACH_LOCK:
            monitor = runtime.__dict__.setdefault(_ATTRIBUTE, HealthMonitor(runtime))
    assert isinstance(monitor, HealthMonitor)
    return monitor
