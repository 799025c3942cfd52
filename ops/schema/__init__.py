"""Schema drift detection and safe repair: the public API of the ops toolkit's schema half.

`check_schema` is fast (one reflection pass) and side-effect free; `init_db`, `migrate` and
`auto_heal` change the database, never dropping or narrowing without `allow_destructive`.
"""

from __future__ import annotations

from ops.schema.check import SchemaReport, check_schema, load_metadata, safe_url
from ops.schema.difference import Difference, Repair, Severity
from ops.schema.repair import (
    InitReport,
    MigrateReport,
    Refusal,
    auto_heal,
    init_db,
    migrate,
)
from ops.schema.scripts import Migrations

__all__ = [
    "Difference",
    "InitReport",
    "MigrateReport",
    "Migrations",
    "Refusal",
    "Repair",
    "SchemaReport",
    "Severity",
    "auto_heal",
    "check_schema",
    "init_db",
    "load_metadata",
    "migrate",
    "safe_url",
]
