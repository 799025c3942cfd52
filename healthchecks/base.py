"""The result every check returns; `/readyz`, `ops doctor` and the dashboard render it."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Status(enum.StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class CheckResult:
    """One measurement: `name` is `component:measurement` as in the api-health-check draft."""

    name: str
    status: Status
    observed: Any = None
    unit: str | None = None
    output: str = ""
    fix: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status is not Status.FAIL
