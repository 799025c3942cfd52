"""Comparer: the objects a dialect needs besides the models' tables (extensions, side and
virtual tables, triggers), declared with their DDL in `metadata.info` (see `ops.schema.extras`).

A missing object is a warning (a feature runs without its index, or writes go unrecorded),
reported on the models' table it belongs to and repaired by creating it; the last missing
object of a table also rebuilds the content of that table's objects. An object of a missing
table is not reported: the table's own repair creates it (see `compare.tables`).
"""

from __future__ import annotations

from itertools import groupby
from typing import TYPE_CHECKING

from ops.schema.compare.context import Context
from ops.schema.difference import Difference, Repair, Severity
from ops.schema.extras import KINDS, Extra, declared
from ops.schema.live import LiveSchema

if TYPE_CHECKING:
    from alembic.operations.ops import MigrateOperation


def _have(extra: Extra, live: LiveSchema) -> bool:
    if extra.kind == "table":
        return extra.name in live.tables
    return extra.name in live.objects.get(f"{extra.kind}s", set())


def compare_extras(ctx: Context, live: LiveSchema) -> list[Difference]:
    """One difference per declared object the database lacks."""
    found: list[Difference] = []
    everything = declared(ctx.metadata, ctx.dialect.name)
    by_table = groupby(sorted(everything, key=lambda e: e.table), key=lambda e: e.table)
    for table, group in by_table:
        extras = list(group)
        if table not in live.tables:
            continue
        missing = [e for e in extras if not _have(e, live)]
        unseen = [e for e in missing if f"{e.kind}s" in live.unseen]
        missing = [e for e in missing if e not in unseen]
        for n, extra in enumerate(missing):
            found.append(_missing(ctx, extra, extras if n == len(missing) - 1 else []))
        found += [_unseen(ctx, extra, live.unseen[f"{extra.kind}s"]) for extra in unseen]
    return found


def _unseen(ctx: Context, extra: Extra, why: str) -> Difference:
    """Not shown to this account: nothing to repair, and nothing proven missing."""
    return ctx.diff(
        extra.table,
        None,
        f"unverified_{extra.kind}",
        Severity.INFO,
        extra.label,
        "not visible",
        repair=Repair.MANUAL,
        why=f"cannot be verified: {why}; check as an account that holds it",
    )


def _missing(ctx: Context, extra: Extra, fill: list[Extra]) -> Difference:
    def plan() -> list[MigrateOperation]:
        from ops.schema.extra_ops import create_operations  # imports Alembic

        return list(create_operations([extra], fill))

    rebuilt = " and rebuilds the content of the table's declared objects" if fill else ""
    return ctx.diff(
        extra.table,
        None,
        KINDS[extra.kind],
        Severity.WARNING,
        extra.label,
        None,
        plan,
        why=f"created by its declared DDL{rebuilt}",
        ddl=lambda: "\n".join(f"{s};" for s in [extra.create, *(x for e in fill for x in e.fill)]),
    )
