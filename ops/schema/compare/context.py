"""What every comparer needs: the dialect, the models and a way to render fixes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from alembic.operations import ops
from sqlalchemy import Column, Dialect, MetaData

from ops.schema.difference import Difference, Repair, Severity
from ops.schema.render import render_operations


@dataclass
class Context:
    """The comparison's fixed inputs."""

    dialect: Dialect
    is_mariadb: bool
    metadata: MetaData

    def diff(
        self,
        table: str,
        column: str | None,
        kind: str,
        severity: Severity,
        expected: object,
        actual: object,
        operations: Sequence[ops.MigrateOperation] | None = None,
        repair: Repair = Repair.SAFE,
        why: str = "",
    ) -> Difference:
        """Build a Difference whose fix is `operations` rendered for this dialect."""
        operations = list(operations or [])
        fix = render_operations(self.dialect, operations, self.metadata) if operations else ""
        if not fix and why:
            fix = f"-- {why}"
        return Difference(
            table=table,
            column=column,
            kind=kind,
            severity=severity,
            expected=None if expected is None else str(expected),
            actual=None if actual is None else str(actual),
            fix=fix,
            repair=repair,
            why=why,
            operations=operations,
        )


def column_copy(column: Column[Any]) -> Column[Any]:
    """A detached copy of a model column, safe to hand to an Alembic operation."""
    return column._copy()


def describe_columns(names: list[str] | tuple[str, ...]) -> str:
    """`(a, b)` for messages."""
    return "(" + ", ".join(names) + ")"
