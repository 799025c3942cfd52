"""What every comparer needs: the dialect, the models and a way to build and render fixes.

Comparers describe a fix as a function returning Alembic operations; nothing imports
Alembic's operations or DDL modules until a fix is printed or applied, which keeps them
off the start-up of a `check-schema` that finds the schema in sync.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, Dialect, MetaData

from ops.schema.difference import Difference, Repair, Severity

if TYPE_CHECKING:
    from alembic.operations.ops import MigrateOperation

Operations = Sequence["MigrateOperation"] | Callable[[], Sequence["MigrateOperation"]] | None


def alembic_ops() -> ModuleType:
    """`alembic.operations.ops`, imported on first use."""
    from alembic.operations import ops  # heavy (about a second): only when a fix is built

    return ops


@dataclass
class Context:
    """The comparison's fixed inputs."""

    dialect: Dialect
    is_mariadb: bool
    metadata: MetaData

    def render(self, operations: list[MigrateOperation]) -> str:
        """The DDL of `operations` for this dialect."""
        from ops.schema.render import render_operations  # imports Alembic: only when printed

        return render_operations(self.dialect, operations, self.metadata)

    def diff(
        self,
        table: str,
        column: str | None,
        kind: str,
        severity: Severity,
        expected: object,
        actual: object,
        operations: Operations = None,
        repair: Repair = Repair.SAFE,
        why: str = "",
        ddl: Callable[[], str] | None = None,
    ) -> Difference:
        """A Difference whose fix is `operations` (a list, or a function building one).

        `ddl`, when given, renders the same fix without Alembic (see `ops.schema.ddl`).
        """
        if operations is None or callable(operations):
            plan = operations
        else:
            fixed = list(operations)
            plan = lambda: fixed  # noqa: E731
        return Difference(
            table=table,
            column=column,
            kind=kind,
            severity=severity,
            expected=None if expected is None else str(expected),
            actual=None if actual is None else str(actual),
            repair=repair,
            why=why,
            plan=(lambda: list(plan())) if plan is not None else None,
            render=self.render,
            ddl=ddl,
        )


def real_name(name: object) -> str | None:
    """A constraint's or index's name, or None for SQLAlchemy's unnamed and "no name" values."""
    return name if isinstance(name, str) and name else None


def column_copy(column: Column[Any]) -> Column[Any]:
    """A detached copy of a model column, safe to hand to an Alembic operation."""
    return column._copy()


def describe_columns(names: list[str] | tuple[str, ...]) -> str:
    """`(a, b)` for messages."""
    return "(" + ", ".join(names) + ")"
