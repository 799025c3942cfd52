"""`ops doctor --heal`: the safe fixes only, each reported; nothing is dropped or deleted."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ops.doctor.reasoning import RootCause
from scraper.errors import one_line
from scraper.migrations.manage import init_db, migrate
from scraper.runtime import Runtime


@dataclass(frozen=True)
class HealAction:
    """One fix applied (or attempted), and what came of it."""

    name: str
    ok: bool
    detail: str

    def to_json(self) -> dict[str, object]:
        return {"action": self.name, "ok": self.ok, "detail": self.detail}


def _make_data_dir(runtime: Runtime, cause: RootCause) -> HealAction | None:
    path = runtime.settings.data_dir
    if cause.heal != "mkdir" or path.exists():
        return None
    path.mkdir(parents=True, exist_ok=True)
    return HealAction("mkdir", True, f"created the data directory {path}")


def _repair_schema(runtime: Runtime, cause: RootCause) -> HealAction | None:
    if cause.heal not in ("init-db", "migrate"):
        return None
    if cause.heal == "init-db":
        created = init_db(runtime.engine).created
        return HealAction("init-db", True, f"created {len(created)} table(s): {', '.join(created)}")
    report = migrate(runtime.engine)
    applied = ", ".join(_label(d) for d in report.applied) or "nothing"
    refused = "; ".join(f"{r.table}.{r.column or ''} {r.kind}: {r.reason}" for r in report.refused)
    detail = f"applied {applied}" + (f"; refused {refused}" if refused else "")
    critical = [d for d in report.remaining if str(d.severity) == "critical"]
    return HealAction("migrate", not critical, detail)


def _label(difference: object) -> str:
    table, column = getattr(difference, "table", "?"), getattr(difference, "column", None)
    kind = getattr(difference, "kind", "change")
    return f"{kind} {table}.{column}" if column else f"{kind} {table}"


def _reconcile(runtime: Runtime, cause: RootCause) -> HealAction | None:
    if cause.heal not in ("migrate", "init-db", "reconcile") or not len(runtime.fallback):
        return None
    result = runtime.jobs.reconcile()
    detail = (
        f"moved {len(result.moved)} job(s) into the database, "
        f"{len(result.already_present)} already there, {len(result.failed)} still refused"
    )
    if result.failed:
        detail += ": " + next(iter(result.failed.values()))
    return HealAction("reconcile", not result.failed, detail)


def _requeue(runtime: Runtime, cause: RootCause) -> HealAction | None:
    if cause.heal != "requeue":
        return None
    result = runtime.rescue_expired()
    detail = f"requeued {len(result.requeued)} job(s) whose lease expired"
    if result.failed:
        detail += f"; failed {len(result.failed)} after too many attempts"
    return HealAction("requeue", True, detail)


FIXES: list[Callable[[Runtime, RootCause], HealAction | None]] = [
    _make_data_dir,
    _repair_schema,
    _reconcile,
    _requeue,
]


def apply_safe_fixes(runtime: Runtime, causes: list[RootCause]) -> list[HealAction]:
    """Run each safe fix once, in dependency order (schema before reconcile), for the causes."""
    actions: list[HealAction] = []
    for fix in FIXES:
        for cause in causes:
            try:
                action = fix(runtime, cause)
            except Exception as exc:  # report the failed fix; the re-check shows the state
                action = HealAction(fix.__name__.strip("_"), False, one_line(exc, kind=True))
            if action is not None:
                actions.append(action)
                break
    return actions
