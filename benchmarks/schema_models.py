"""The benchmark's models: 300 tables (or $BENCH_TABLES) shaped like a real application's.

Importable as `benchmarks.schema_models:metadata`, so whole-process runs load the same models
the way `ops check-schema --models` does.
"""

from __future__ import annotations

import os

import sqlalchemy as sa

from scraper.db import NAMING_CONVENTION


def build_metadata(count: int) -> sa.MetaData:
    """`count` tables chained by foreign keys, each with 12 columns, 2 indexes and a unique."""
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    for i in range(count):
        parent = [sa.ForeignKey(f"t{i - 1:04d}.id")] if i else []
        columns: list[sa.schema.SchemaItem] = [
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("parent_id", sa.Integer, *parent),
            sa.Column("name", sa.String(80), nullable=False),
            sa.Column("code", sa.String(32), nullable=False),
            sa.Column("flag", sa.Boolean, server_default=sa.true(), nullable=False),
            sa.Column("created_at", sa.DateTime, nullable=False),
        ]
        columns += [sa.Column(f"c{n:02d}", sa.Integer, server_default="0") for n in range(6, 12)]
        sa.Table(
            f"t{i:04d}",
            metadata,
            *columns,
            sa.Index(None, "name"),
            sa.Index(None, "created_at", "flag"),
            sa.UniqueConstraint("code"),
        )
    return metadata


metadata = build_metadata(int(os.environ.get("BENCH_TABLES", "300")))
