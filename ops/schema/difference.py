"""The unit of a schema report: one difference between the models and the live database."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from alembic.operations import ops


class Severity(StrEnum):
    """How bad a difference is; `critical` means the application's reads or writes will fail."""

    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"critical": 0, "warning": 1, "info": 2}[self.value]


class Repair(StrEnum):
    """What `ops migrate` may do about a difference."""

    SAFE = "safe"  # additive or relaxing: applied by migrate and auto-heal
    DESTRUCTIVE = "destructive"  # drops or narrows: needs --allow-destructive
    MANUAL = "manual"  # no automatic fix; a person decides


@dataclass
class Difference:
    """One way the live schema differs from the models, with its severity and fix."""

    table: str
    column: str | None
    kind: str
    severity: Severity
    expected: str | None
    actual: str | None
    fix: str = ""
    repair: Repair = Repair.SAFE
    why: str = ""
    operations: list[ops.MigrateOperation] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: the keys SPEC names, then `repair` and `why`."""
        return {
            "table": self.table,
            "column": self.column,
            "kind": self.kind,
            "severity": self.severity.value,
            "expected": self.expected,
            "actual": self.actual,
            "fix": self.fix,
            "repair": self.repair.value,
            "why": self.why,
        }

    @property
    def sort_key(self) -> tuple[int, str, str, str]:
        return (self.severity.rank, self.table, self.kind, self.column or "")
