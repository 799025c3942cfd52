"""Plain-text renderings of schema reports: a diagnosis a person reads top to bottom."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from ops.schema.check import SchemaReport
from ops.schema.difference import Difference, Repair, Severity

if TYPE_CHECKING:
    from ops.schema.repair import InitReport, MigrateReport


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def _describe(diff: Difference) -> list[str]:
    where = f"{diff.table}.{diff.column}" if diff.column else diff.table
    head = f"  {diff.severity.value.upper():<8} {diff.kind} {where}"
    lines = [f"{head}: expected {diff.expected or '-'}, found {diff.actual or '-'}"]
    if diff.why:
        lines.append(f"           {diff.why}")
    if diff.fix and not diff.fix.startswith("-- " + diff.why):
        lines.append("           fix:")
        lines.append(_indent(diff.fix, "             "))
    return lines


def _summary(differences: list[Difference]) -> str:
    counts = {s: sum(1 for d in differences if d.severity is s) for s in Severity}
    return ", ".join(f"{n} {s.value}" for s, n in counts.items())


def render_differences(differences: list[Difference]) -> list[str]:
    """Differences grouped by table, the table with the worst problem first."""
    by_table: dict[str, list[Difference]] = defaultdict(list)
    for diff in differences:
        by_table[diff.table].append(diff)
    order = sorted(by_table, key=lambda t: (min(d.severity.rank for d in by_table[t]), t))
    lines: list[str] = []
    for table in order:
        lines.append(f"{table}:")
        for diff in sorted(by_table[table], key=lambda d: d.sort_key):
            lines.extend(_describe(diff))
        lines.append("")
    return lines


def render_report(report: SchemaReport, url: str) -> str:
    """The check-schema diagnosis, with a summary line at the end."""
    if report.in_sync:
        return f"Schema in sync: {report.tables_checked} tables match the models ({url})."
    tables = len({d.table for d in report.differences})
    lines = [f"Schema drift in {url} ({report.dialect}):", ""]
    lines += render_differences(report.differences)
    fixable = any(d.repair is not Repair.MANUAL for d in report.differences)
    lines.append(
        f"Summary: {len(report.differences)} differences in {tables} tables "
        f"({_summary(report.differences)}). "
        + ("`ops migrate` applies the safe fixes." if fixable else "None has an automatic fix.")
    )
    return "\n".join(lines)


def render_migrate(report: MigrateReport) -> str:
    """What migrate did or would do, what it refused, and where the backup is."""
    lines: list[str] = []
    if report.backup_path:
        lines.append(f"Backed up the SQLite database to {report.backup_path}")
    verb = "Would apply" if report.dry_run else "Applied"
    if report.upgraded:
        lines.append("Ran the Alembic migrations up to head.")
    lines.append(f"{verb} {len(report.applied)} change(s).")
    listed = report.dry_run and report.operations  # the statements are listed below
    for diff in report.applied:
        lines.append(f"  {diff.kind} {diff.table}{'.' + diff.column if diff.column else ''}")
        if diff.fix and not listed:
            lines.append(_indent(diff.fix, "    "))
    if report.stamped:
        lines.append(f"Recorded migration head {report.stamped}.")
    if report.dry_run and report.operations:
        lines += render_operations(report)
    if report.refused:
        lines.append(f"Refused {len(report.refused)} change(s):")
        for r in report.refused:
            where = f"{r.table}.{r.column}" if r.column else r.table
            lines.append(f"  {r.kind} {where}: {r.reason} (to apply: {r.remedy})")
    if report.dry_run:
        lines.append(
            f"Result: dry run, nothing changed; {len(report.remaining)} difference(s) now."
        )
        return "\n".join(lines)
    state = "in sync" if report.in_sync else f"{len(report.remaining)} difference(s) remain"
    lines.append(f"Result: schema {state}.")
    return "\n".join(lines)


def _hold(held: str, online: bool) -> str:
    if not online:
        return f"blocks writes for the {held} (grows with the table)"
    if held == "brief":
        return "held briefly (a catalog change): online"
    return f"writes go on during the {held}: online"


def render_operations(report: MigrateReport) -> list[str]:
    """Each planned operation with the lock it takes and whether writes go on meanwhile."""
    lines = ["Operations (lock taken; ONLINE = writes go on):"]
    for op in report.operations:
        diff = op.diff
        where = f"{diff.table}.{diff.column}" if diff.column else diff.table
        state = "ONLINE" if op.online else ("BLOCKING" if op.blocking else "BRIEF")
        lines.append(f"  {state:<8} {diff.kind} {where} ({op.rows:,} rows)")
        for step in op.steps:
            lines.append(f"           {step.lock}: {_hold(step.held, step.online)}")
            lines.append(f"             {step.sql}")
        if op.blocking:
            lines.append(f"           {op.reason()}; runs only with --allow-blocking")
        elif not op.online:
            lines.append("           not online, but the table is small: held well under 1 s")
    return lines


def render_init(report: InitReport) -> str:
    """What init-db created."""
    created = ", ".join(report.created) if report.created else "nothing (all tables exist)"
    lines = [f"Created: {created}."]
    if report.stamped:
        lines.append(f"Recorded migration head {report.stamped}.")
    return "\n".join(lines)
