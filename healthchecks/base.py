"""The result every check returns; `/readyz`, `ops doctor` and the dashboard render it."""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from healthchecks.refusal import Refusal
from scraper.errors import one_line

if TYPE_CHECKING:
    from scraper.runtime import Runtime


class Fix(str):
    """The command that fixes a finding; `heal` names the `ops doctor --heal` action that
    applies it (None: a person must run it). A `str`, so it prints and compares as the command.
    """

    heal: str | None
    sql: str | None  # the exact statement(s) to run as an admin, when the fix is SQL

    def __new__(cls, command: str, heal: str | None = None, sql: str | None = None) -> Fix:
        fix = super().__new__(cls, command)
        fix.heal = heal if heal is not None else getattr(command, "heal", None)
        fix.sql = sql if sql is not None else getattr(command, "sql", None)
        return fix

    @property
    def command(self) -> str:
        return str.__str__(self)

    def to_json(self) -> dict[str, str | None]:
        return {"command": self.command, "heal": self.heal, "sql": self.sql}


class Status(enum.StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"

    @property
    def rank(self) -> int:
        """Order of badness: pass < warn < fail."""
        return {"pass": 0, "warn": 1, "fail": 2}[self.value]


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
    component_type: str | None = None
    # Typed facts reasoning reads instead of the sentences above:
    error: Refusal | None = None  # the database's refusal, classified
    errored: bool = False  # the check itself could not run (a symptom, never a cause)
    skipped_because: str | None = None  # not run: this other check failed first

    def __post_init__(self) -> None:
        if self.fix is not None and not isinstance(self.fix, Fix):
            object.__setattr__(self, "fix", Fix(self.fix))

    @property
    def ok(self) -> bool:
        return self.status is not Status.FAIL

    @property
    def remedy(self) -> Fix | None:
        """The fix, typed (`heal` says whether `ops doctor --heal` may apply it)."""
        return self.fix if isinstance(self.fix, Fix) else None


def worst(results: list[CheckResult]) -> Status:
    """The overall status: the worst of the results (pass when there are none)."""
    return max((r.status for r in results), key=lambda s: s.rank, default=Status.PASS)


def guarded(
    name: str, unit: str | None = None, component_type: str | None = None
) -> Callable[[Callable[[Runtime], CheckResult]], Callable[[Runtime], CheckResult]]:
    """Make a check total: an exception becomes a `fail` result naming the error."""

    def wrap(check: Callable[[Runtime], CheckResult]) -> Callable[[Runtime], CheckResult]:
        @functools.wraps(check)
        def run(runtime: Runtime) -> CheckResult:
            try:
                return check(runtime)
            except Exception as exc:  # checks never raise: a broken dependency is the finding
                error = one_line(exc, kind=True)
                return CheckResult(
                    name,
                    Status.FAIL,
                    unit=unit,
                    output=f"The {name} check could not run: {error}.",
                    fix="ops doctor",
                    evidence={"error": error},
                    component_type=component_type,
                    errored=True,
                )

        return run

    return wrap
