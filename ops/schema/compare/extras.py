"""Comparer: the objects a dialect needs besides the models' tables (triggers, extensions,
side and virtual tables), declared in `metadata.info["ops.schema.extras"]`.

The declaration maps a dialect name to kinds and names, e.g.
`{"sqlite": {"virtual_tables": ["jobs_fts"], "triggers": ["jobs_fts_insert"]}}`. A declared
object is never unexpected; a missing one is a warning the service's migration repairs.
"""

from __future__ import annotations

from ops.schema.compare.context import Context
from ops.schema.difference import Difference, Repair, Severity
from ops.schema.live import LiveSchema

INFO_KEY = "ops.schema.extras"
KINDS = {
    "tables": "side table",
    "virtual_tables": "virtual table",
    "triggers": "trigger",
    "extensions": "extension",
}


def declared(ctx: Context) -> dict[str, list[str]]:
    """The extra objects the models declare for this dialect, by kind."""
    extras = ctx.metadata.info.get(INFO_KEY, {})
    found: dict[str, list[str]] = extras.get(ctx.dialect.name, {})
    return found


def declared_tables(ctx: Context) -> set[str]:
    """Tables (side or virtual) the models declare for this dialect besides their own."""
    extras = declared(ctx)
    return {*extras.get("tables", []), *extras.get("virtual_tables", [])}


def compare_extras(ctx: Context, live: LiveSchema) -> list[Difference]:
    """A declared object the database lacks: a warning (a feature runs without its index or
    its triggers), repaired by running the migrations again (`ops migrate`)."""
    found = []
    for kind, names in sorted(declared(ctx).items()):
        have = set(live.tables) if kind == "tables" else live.objects.get(kind, set())
        for name in sorted(set(names) - have):
            found.append(
                ctx.diff(
                    name,
                    None,
                    f"missing_{KINDS.get(kind, kind).replace(' ', '_')}",
                    Severity.WARNING,
                    f"{KINDS.get(kind, kind)} {name}",
                    None,
                    repair=Repair.MANUAL,
                    why="created by the service's migrations: run them again (ops migrate); "
                    "see the migration that adds it for what it needs",
                )
            )
    return found
