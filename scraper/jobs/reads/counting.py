"""How many jobs match: exact up to EXACT_LIMIT, a planner's estimate beyond.

The exact count reads at most EXACT_LIMIT + 1 index entries (`SELECT count(*) FROM (SELECT 1
... LIMIT n)`); past it PostgreSQL's and MariaDB's EXPLAIN give the planner's row estimate
(statistics, not a scan). SQLite has no such estimate, so it counts (over the smallest index).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ClauseElement, ColumnElement, Executable, Select, func, literal, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session

from scraper.models import ScrapeJob

EXACT_LIMIT = 10_000
TABLE = ScrapeJob.__table__


@dataclass(frozen=True)
class Total:
    """A count and whether it is the planner's estimate rather than exact."""

    count: int
    estimated: bool = False


def count_jobs(
    session: Session, conditions: Sequence[ColumnElement[bool]], exact_limit: int = EXACT_LIMIT
) -> Total:
    """Jobs matching `conditions`: exact up to `exact_limit`, estimated beyond (never below)."""
    capped = select(literal(1)).select_from(TABLE).where(*conditions).limit(exact_limit + 1)
    exact = int(session.scalar(select(func.count()).select_from(capped.subquery())) or 0)
    if exact <= exact_limit:
        return Total(exact)
    everything = select(func.count()).select_from(TABLE).where(*conditions)
    dialect = session.get_bind().dialect.name
    if dialect not in ("postgresql", "mysql"):
        return Total(int(session.scalar(everything) or 0))
    rows = select(literal(1)).select_from(TABLE).where(*conditions)
    guess = _estimate(session, rows, dialect)
    return Total(max(guess, exact_limit + 1), estimated=True)


class Explain(Executable, ClauseElement):
    """`EXPLAIN ...` of a statement, its parameters bound as the statement's own."""

    inherit_cache = False

    def __init__(self, stmt: Select[Any], prefix: str) -> None:
        self.stmt, self.prefix = stmt, prefix


@compiles(Explain)
def _compile_explain(element: Explain, compiler: Any, **kw: Any) -> str:
    return f"{element.prefix} {compiler.process(element.stmt, **kw)}"


def _estimate(session: Session, stmt: Select[Any], dialect: str) -> int:
    """The planner's row estimate for `stmt` (EXPLAIN runs nothing)."""
    if dialect == "postgresql":
        found = session.execute(Explain(stmt, "EXPLAIN (FORMAT JSON)")).scalar()
        plan: Any = json.loads(found) if isinstance(found, str) else found
        return int(plan[0]["Plan"]["Plan Rows"])
    rows = session.execute(Explain(stmt, "EXPLAIN")).mappings().all()
    return max((int(r.get("rows") or 0) for r in rows), default=0)
