"""Score a schema checker on a real application's databases: findings reduced to facts.

A fact is `(table, column or columns, aspect)`. ops' differences and Alembic's
`compare_metadata` entries both reduce to facts, which are scored against a corpus's ground
truth: found right, reported wrongly (a false positive), missed. Used by the Optuna and MLflow
corpora.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ops.schema import Difference

Fact = tuple[str, str | None, str]

_ASPECT = {
    "table": "table",
    "column": "column",
    "type_mismatch": "type",
    "nullability_mismatch": "nullable",
    "default_mismatch": "default",
    "index": "index",
    "unique_constraint": "unique",
    "foreign_key": "fk",
    "foreign_key_mismatch": "fk",
    "check_constraint": "check",
    "primary_key_mismatch": "pk",
    "collation_mismatch": "collation",
    "charset_mismatch": "charset",
}


def ops_facts(differences: Iterable[Difference]) -> set[Fact]:
    """Facts from ops' differences; a probable rename names both columns."""
    facts: set[Fact] = set()
    for diff in differences:
        if diff.kind == "probable_rename":
            facts |= {(diff.table, diff.expected, "column"), (diff.table, diff.actual, "column")}
            continue
        kind = diff.kind.removeprefix("missing_").removeprefix("unexpected_")
        column = None if kind in {"table", "check_constraint"} else diff.column
        facts.add((diff.table, column, _ASPECT[kind]))
    return facts


def _columns(obj: Any) -> str:
    return ",".join(str(getattr(c, "name", c)) for c in obj.columns) or str(obj.name)


def _alembic_fact(diff: Any) -> Fact | None:
    if isinstance(diff, list):  # modify_* entries come grouped per column
        op, _schema, table, column = diff[0][:4]
        return (table, column, op.removeprefix("modify_").replace("server_default", "default"))
    op, obj = diff[0], diff[-1]
    if op in {"add_table", "remove_table"}:
        return (obj.name, None, "table")
    if op in {"add_column", "remove_column"}:
        return (diff[2], obj.name, "column")
    if op in {"add_index", "remove_index"}:
        return (obj.table.name, _columns(obj), "unique" if obj.unique else "index")
    if op in {"add_constraint", "remove_constraint"} and isinstance(obj, sa.UniqueConstraint):
        return (obj.table.name, _columns(obj), "unique")
    if op in {"add_fk", "remove_fk"}:
        return (obj.parent.name, ",".join(obj.column_keys), "fk")
    return None


def alembic_facts(url: str, metadata: sa.MetaData) -> set[Fact]:
    """Facts from Alembic's compare_metadata (types and server defaults compared too)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        opts = {"compare_type": True, "compare_server_default": True}
        diffs = compare_metadata(MigrationContext.configure(conn, opts=opts), metadata)
    engine.dispose()
    return {fact for fact in map(_alembic_fact, diffs) if fact is not None}


@dataclass(frozen=True)
class Score:
    """One tool on one database: facts it got right, reported wrongly, and missed."""

    true: int
    false: int
    missed: int
    false_facts: tuple[Fact, ...] = ()
    missed_facts: tuple[Fact, ...] = ()

    def __str__(self) -> str:
        return f"{self.true}/{self.false}/{self.missed}"


def score(found: set[Fact], expected: Iterable[Fact]) -> Score:
    """Compare a tool's facts with the ground truth."""
    wanted = set(expected)
    return Score(
        len(found & wanted),
        len(found - wanted),
        len(wanted - found),
        tuple(sorted(found - wanted, key=str)),
        tuple(sorted(wanted - found, key=str)),
    )


def table(rows: list[tuple[str, str, Score, Score]]) -> str:
    """The comparison as a Markdown table (true/false/missed per tool)."""
    lines = [
        "| dialect | scenario | ops true/false/missed | Alembic true/false/missed |",
        "|---|---|---|---|",
    ]
    lines += [f"| {d} | {s} | {o} | {a} |" for d, s, o, a in rows]
    return "\n".join(lines)


def print_findings(rows: list[tuple[str, str, Score, Score]]) -> None:
    """The table, then each false and missed fact per tool."""
    print(table(rows))
    for dialect, scenario, ops, ale in rows:
        for tool, result in (("ops", ops), ("Alembic", ale)):
            for fact in result.false_facts:
                print(f"{tool} false on {dialect}/{scenario}: {fact}")
            for fact in result.missed_facts:
                print(f"{tool} missed on {dialect}/{scenario}: {fact}")


def reachable(kinds: Iterable[str]) -> list[str]:
    """The database kinds this machine can reach (SQLite always), for the printed tables."""
    from tests.plugins import databases

    return [kind for kind in kinds if kind == "sqlite" or databases.probe(kind) is None]


@contextlib.contextmanager
def scratch_database(kind: str) -> Iterator[str]:
    """An empty database of this kind outside pytest (whose session makes the pool)."""
    from tests.plugins import databases

    with tempfile.TemporaryDirectory() as tmp:
        pool = databases.DatabasePool(Path(tmp))
        try:
            with pool.database(kind, Path(tmp)) as url:
                yield url
        finally:
            pool.close()
