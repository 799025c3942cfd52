"""PostgreSQL: the tables a role cannot see although they exist (issue 29).

A role without USAGE on the tables' schema, or whose search_path leaves it out, sees them
missing; building them again would put empty tables beside the ones that hold the data. Kept
apart from `ops.schema.repair` so that the doctor asks without importing Alembic.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Engine, text


@dataclass(frozen=True)
class Hidden:
    """Where a table that looks missing to this role really is, and whether the role may use
    that schema (if it may, the schema is only not on its search_path)."""

    schema: str
    usable: bool


def hidden_tables(engine: Engine, tables: Iterable[str]) -> dict[str, Hidden]:
    """PostgreSQL: which of `tables` exist in a schema this role cannot use or does not search
    (none of that name in sight). To this role they look missing."""
    if engine.dialect.name != "postgresql":
        return {}
    with engine.connect() as conn:
        found = conn.execute(
            text(
                "SELECT c.relname, min(n.nspname), "
                "(array_agg(has_schema_privilege(n.oid, 'USAGE') ORDER BY n.nspname))[1] "
                "FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind IN ('r', 'p') AND c.relname = ANY(:tables) "
                "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
                "GROUP BY c.relname HAVING NOT bool_or(pg_table_is_visible(c.oid))"
            ),
            {"tables": sorted(tables)},
        ).all()
    return {str(table): Hidden(str(schema), bool(usable)) for table, schema, usable in found}
