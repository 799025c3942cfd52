"""`ops doctor`: run every check, reason to one root cause with evidence and the fix; heal.

The checks are the health checks of `healthchecks` (the same ones `/readyz` serves) plus the
configuration checks only the doctor makes; `reasoning` turns their results into causes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from healthchecks import CHECKS, CheckResult, Status, worst
from healthchecks.monitor import monitor_for
from ops.doctor.config import bad_settings, check_data_dir, check_settings
from ops.doctor.heal import HealAction, apply_safe_fixes
from ops.doctor.reasoning import RootCause, find_causes
from ops.doctor.url import check_database_url
from scraper.runtime import Runtime
from scraper.storage import FileStore

__all__ = ["Diagnosis", "HealReport", "RootCause", "diagnose", "diagnose_config_error", "heal"]


@dataclass
class Diagnosis:
    """The checks, the root cause (None when healthy) and the other problems found."""

    checks: list[CheckResult]
    causes: list[RootCause] = field(default_factory=list)

    @property
    def root_cause(self) -> RootCause | None:
        return self.causes[0] if self.causes else None

    @property
    def problem(self) -> bool:
        """A failing problem: the service cannot accept, store, run or serve jobs (exit 1)."""
        return any(cause.severity is Status.FAIL for cause in self.causes)

    @property
    def status(self) -> str:
        if self.problem:
            return Status.FAIL.value
        if self.causes:
            return Status.WARN.value
        return Status.PASS.value if worst(self.checks) is Status.PASS else Status.WARN.value

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "root_cause": self.root_cause.to_json() if self.root_cause else None,
            "other_findings": [cause.to_json() for cause in self.causes[1:]],
            "checks": [check_json(check) for check in self.checks],
        }


@dataclass
class HealReport:
    """Before, what was done, after."""

    before: Diagnosis
    actions: list[HealAction]
    after: Diagnosis

    def to_json(self) -> dict[str, Any]:
        data = self.after.to_json()
        data["heal"] = {
            "actions": [action.to_json() for action in self.actions],
            "before": self.before.to_json(),
        }
        return data


def check_json(check: CheckResult) -> dict[str, Any]:
    """A check result as JSON."""
    return {
        "name": check.name,
        "status": check.status.value,
        "observed": check.observed,
        "unit": check.unit,
        "output": check.output,
        "fix": check.fix,
        "heal": check.remedy.heal if check.remedy else None,
        "error": check.error.to_json() if check.error else None,
        "errored": check.errored,
        "skipped_because": check.skipped_because,
        "evidence": check.evidence,
    }


# On local disk it writes a probe file (config:data_dir checks access by permissions instead);
# an object store can only be checked by a probe object, written and deleted (docs/storage.md).
LOCAL_DISK_SKIPS = ("storage:writable",)


def diagnose(runtime: Runtime) -> Diagnosis:
    """Run the configuration checks, then every health check (fresh), and find the root cause.

    Reads only: the writes the probe makes are rolled back, the data dir is checked by its
    permissions, and a SQLite file that does not exist is reported, not created.
    """
    checks = [
        check_settings(runtime.settings),
        check_database_url(runtime.settings),
        check_data_dir(runtime.settings),
    ]
    skips = LOCAL_DISK_SKIPS if isinstance(runtime.files, FileStore) else ()
    names = [name for name in CHECKS if name not in skips]
    checks.extend(monitor_for(runtime).results(names, max_age=0))
    return Diagnosis(checks, find_causes({c.name: c for c in checks}, runtime))


def diagnose_config_error(error: str) -> Diagnosis:
    """The diagnosis when the settings cannot even be read."""
    checks = [bad_settings(error)]
    return Diagnosis(checks, find_causes({c.name: c for c in checks}, None))


def heal(runtime: Runtime) -> HealReport:
    """Diagnose, apply the safe fixes for what was found, diagnose again."""
    before = diagnose(runtime)
    actions = apply_safe_fixes(runtime, before.causes)
    return HealReport(before, actions, diagnose(runtime))
