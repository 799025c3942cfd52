"""`schema:in_sync`: does the live schema match the ORM models (`ops check-schema`)?"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from healthchecks.base import CheckResult, Fix, Status, guarded
from healthchecks.remedy.access import hidden_table
from scraper.errors import one_line
from scraper.migrations.manage import check_schema
from scraper.models import Base

if TYPE_CHECKING:
    from scraper.runtime import Runtime

NAME = "schema:in_sync"
SHOWN = 10


def _fix(tables_missing: int) -> Fix:
    """`ops init-db` for an empty database (every model table missing), else `ops migrate`."""
    if tables_missing >= len(Base.metadata.tables):
        return Fix("ops init-db", heal="init-db")
    return Fix("ops migrate", heal="migrate")


def _summary(differences: list[Any]) -> str:
    counts = Counter(str(d.severity) for d in differences)
    return ", ".join(f"{n} {severity}" for severity, n in sorted(counts.items()))


def _drift_result(differences: list[Any], runtime: Runtime) -> CheckResult:
    critical = [d for d in differences if str(d.severity) == "critical"]
    missing = [d.table for d in differences if d.kind == "missing_table"]
    first = (critical or differences)[0]
    where = f"{first.table}.{first.column}" if first.column else first.table
    output = (
        f"The database schema differs from the models in {len(differences)} places "
        f"({_summary(differences)}), first {first.kind} on {where}; run the fix."
    )
    fix, evidence = _fix(len(missing)), {"differences": [_as_dict(d) for d in differences[:SHOWN]]}
    hidden = hidden_table(missing[0], runtime.engine) if missing else None
    if hidden is not None:  # missing only to this role: init-db would build beside the data
        output, fix = f"{len(missing)} tables look missing. {hidden.summary}", hidden.fix
        evidence.update(hidden.evidence)
    return CheckResult(
        NAME,
        Status.FAIL if critical else Status.WARN,
        observed=len(differences),
        unit="differences",
        output=output,
        fix=fix,
        evidence=evidence,
        component_type="datastore",
    )


def _unverified_result(differences: list[Any]) -> CheckResult:
    """All that differs is what this account may not see: nothing proven wrong, nothing to do
    but look again with an account that may see it."""
    first = differences[0]
    return CheckResult(
        NAME,
        Status.WARN,
        observed=0,
        unit="differences",
        output=(
            f"The database schema matches the models in all this account can see; "
            f"{len(differences)} object(s), first {first.expected} on {first.table}, "
            f"{first.why}."
        ),
        fix="ops check-schema, run as an account that may see them (or ignore)",
        evidence={"unverified": [_as_dict(d) for d in differences[:SHOWN]]},
        component_type="datastore",
    )


def _as_dict(difference: Any) -> dict[str, Any]:
    if hasattr(difference, "to_dict"):
        return dict(difference.to_dict())
    return {"table": difference.table, "column": difference.column, "kind": difference.kind}


@guarded(NAME, unit="differences", component_type="datastore")
def check(runtime: Runtime) -> CheckResult:
    """Compare models and database; critical drift fails, warning/info drift warns."""
    try:
        report = check_schema(runtime.engine)
    except Exception as exc:
        return CheckResult(
            NAME,
            Status.FAIL,
            unit="differences",
            output=f"The schema could not be compared: {one_line(exc, kind=True)}.",
            fix="ops check-schema",
            evidence={"error": one_line(exc, kind=True)},
            component_type="datastore",
        )
    differences = list(report.differences)
    if differences and all(d.kind.startswith("unverified_") for d in differences):
        return _unverified_result(differences)
    if differences:
        return _drift_result(differences, runtime)
    return CheckResult(
        NAME,
        Status.PASS,
        observed=0,
        unit="differences",
        output="The database schema matches the models.",
        component_type="datastore",
    )
