"""The Alembic operation that creates or fills a declared extra object (`ops.schema.extras`).

A subclass of `ExecuteSQLOp`, so Alembic runs and renders it as the plain statement it is;
the online planner tells it apart from a backfill `UPDATE` (which it runs in batches).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic.operations import ops

from ops.schema.extras import Extra


class ExtraSQLOp(ops.ExecuteSQLOp):
    """One statement of an extra object: its creation (`fill=False`) or a rebuild of its
    content from `table_name` (`fill=True`: reads every row of the table)."""

    def __init__(self, sqltext: str, table_name: str, fill: bool = False) -> None:
        super().__init__(sqltext)
        self.table_name = table_name
        self.fill = fill


def create_operations(create: Sequence[Extra], fill: Sequence[Extra]) -> list[ExtraSQLOp]:
    """Create the objects `create`, then rebuild the content of the objects `fill`."""
    found = [ExtraSQLOp(extra.create, extra.table) for extra in create]
    found += [ExtraSQLOp(sql, extra.table, fill=True) for extra in fill for sql in extra.fill]
    return found
