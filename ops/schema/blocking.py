"""Which planned repairs would block writes on a large table: the dry run's list and the gate.

Each difference migrate would fix becomes an `Operation`: its online steps, the rows of its
table, and whether it blocks writes (a step that is not online, on a table above
LARGE_TABLE_ROWS). Self-healing never runs a blocking one; `ops migrate` only with
`--allow-blocking`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from ops.schema.difference import Difference
from ops.schema.online import LARGE_TABLE_ROWS, ROWS_PER_SECOND, Server, Step, plan_steps

_PG_ESTIMATE = sa.text(
    "SELECT GREATEST(reltuples, 0)::bigint FROM pg_class WHERE oid = to_regclass(:t)"
)
_MYSQL_ESTIMATE = sa.text(
    "SELECT TABLE_ROWS FROM information_schema.TABLES "
    "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :t"
)


@dataclass
class Operation:
    """One difference's repair as it would run: its steps and the table's size."""

    diff: Difference
    steps: list[Step]
    rows: int

    @property
    def online(self) -> bool:
        """Writes go on throughout (each lock held only for a catalog change)."""
        return all(step.online for step in self.steps)

    @property
    def blocking(self) -> bool:
        """It would block writes for longer than about a second."""
        return not self.online and self.rows > LARGE_TABLE_ROWS

    @property
    def seconds(self) -> float:
        """How long the blocking lock is expected to be held (0 when online)."""
        if self.online:
            return 0.0
        return sum(self.rows / ROWS_PER_SECOND[s.held] for s in self.steps if not s.online)

    @property
    def lock(self) -> str:
        """The lock that matters: the first blocking step's, else the first step's."""
        worst = next((s for s in self.steps if not s.online), None)
        worst = worst or (self.steps[0] if self.steps else None)
        return worst.lock if worst else ""

    def reason(self) -> str:
        """Why it blocks, and how long, in one sentence."""
        step = next(s for s in self.steps if not s.online)
        why = f": {step.note}" if step.note else ""
        return (
            f"would block writes: holds {step.lock} on {self.diff.table} "
            f"(about {self.rows:,} rows) for about {max(1, round(self.seconds))} s{why}"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form: what, where, the lock, online or not, and the statements."""
        return {
            "table": self.diff.table,
            "column": self.diff.column,
            "kind": self.diff.kind,
            "lock": self.lock,
            "online": self.online,
            "blocking": self.blocking,
            "rows": self.rows,
            "expected_lock_seconds": round(self.seconds, 1),
            "steps": [step.to_dict() for step in self.steps],
        }


def table_rows(conn: Connection, table: str) -> int:
    """The table's rows: the server's estimate, or an exact count up to the large-table mark."""
    name = conn.dialect.name
    estimate = 0
    if name == "postgresql":
        estimate = conn.execute(_PG_ESTIMATE, {"t": table}).scalar() or 0
    elif name == "mysql":
        estimate = conn.execute(_MYSQL_ESTIMATE, {"t": table}).scalar() or 0
    sample = sa.select(sa.literal(1)).select_from(sa.table(table)).limit(LARGE_TABLE_ROWS + 1)
    counted = conn.execute(sa.select(sa.func.count()).select_from(sample.subquery())).scalar()
    return max(int(estimate), int(counted or 0))


def assess(conn: Connection, server: Server, differences: list[Difference]) -> list[Operation]:
    """Each difference's repair with its steps and table size, in the order given."""
    rows: dict[str, int] = {}
    found = []
    for diff in differences:
        if diff.table not in rows:
            rows[diff.table] = 0 if diff.kind == "missing_table" else table_rows(conn, diff.table)
        found.append(Operation(diff, plan_steps(server, list(diff.operations)), rows[diff.table]))
    return found
