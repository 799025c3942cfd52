"""Compare the models with a reflected schema: one comparer per aspect, each returning data.

Modelled on Alembic's `autogenerate/compare/`: tables, columns (with rename detection),
column attributes (type, nullability, default), indexes and unique constraints, and
constraints (foreign keys, primary key, CHECK), and collations / character sets.
"""

from __future__ import annotations

from sqlalchemy import Dialect, MetaData

from ops.schema.compare.checks import compare_checks
from ops.schema.compare.collations import compare_collations
from ops.schema.compare.columns import compare_columns
from ops.schema.compare.constraints import compare_foreign_keys, compare_primary_key
from ops.schema.compare.context import Context
from ops.schema.compare.extras import compare_extras
from ops.schema.compare.indexes import compare_indexes
from ops.schema.compare.tables import compare_tables
from ops.schema.difference import Difference
from ops.schema.live import LiveSchema

TABLE_COMPARERS = (
    compare_columns,
    compare_indexes,
    compare_foreign_keys,
    compare_primary_key,
    compare_checks,
    compare_collations,
)


def compare_schema(metadata: MetaData, live: LiveSchema, dialect: Dialect) -> list[Difference]:
    """Every difference between `metadata` and `live`, critical first, then by table."""
    ctx = Context(dialect=dialect, is_mariadb=live.is_mariadb, metadata=metadata)
    found = compare_tables(ctx, live) + compare_extras(ctx, live)
    for name, table in metadata.tables.items():
        reflected = live.tables.get(name)
        if reflected is None:
            continue
        for comparer in TABLE_COMPARERS:
            found.extend(comparer(ctx, table, reflected))
    return sorted(found, key=lambda d: d.sort_key)


__all__ = ["compare_schema", "Context"]
