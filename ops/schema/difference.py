"""The unit of a schema report: one difference between the models and the live database."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alembic.operations.ops import MigrateOperation

Plan = Callable[[], "list[MigrateOperation]"]
Renderer = Callable[["list[MigrateOperation]"], str]


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
    """One way the live schema differs from the models, with its severity and fix.

    The fix's Alembic operations (`plan`) and their DDL (`render`) are built on first use:
    a report nobody prints or applies never imports Alembic's DDL machinery.
    """

    table: str
    column: str | None
    kind: str
    severity: Severity
    expected: str | None
    actual: str | None
    repair: Repair = Repair.SAFE
    why: str = ""
    plan: Plan | None = field(default=None, repr=False, compare=False)
    render: Renderer | None = field(default=None, repr=False, compare=False)
    ddl: Callable[[], str] | None = field(default=None, repr=False, compare=False)
    _operations: list[MigrateOperation] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    _fix: str | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def operations(self) -> list[MigrateOperation]:
        """The Alembic operations that fix this difference ([] when none is automatic)."""
        if self._operations is None:
            self._operations = self.plan() if self.plan is not None else []
        return self._operations

    @operations.setter
    def operations(self, value: list[MigrateOperation]) -> None:
        self._operations, self._fix = value, None

    @property
    def fix(self) -> str:
        """The fix as DDL for the dialect, or `-- why` when there is no statement to run."""
        if self._fix is None and self.ddl is not None and self._operations is None:
            self._fix = self.ddl()  # the same DDL, rendered without Alembic
        if self._fix is None:
            operations = self.operations
            rendered = self.render(operations) if operations and self.render else ""
            self._fix = rendered or (f"-- {self.why}" if self.why else "")
        return self._fix

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
