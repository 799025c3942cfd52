"""Schema drift detection and safe repair: the public API of the ops toolkit's schema half.

`check_schema` is fast (one reflection pass) and side-effect free; `init_db`, `migrate` and
`auto_heal` change the database, never dropping or narrowing without `allow_destructive`.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ops.schema.difference import Difference, Repair, Severity

if TYPE_CHECKING:
    from ops.schema.check import SchemaReport, check_schema, load_metadata, safe_url
    from ops.schema.repair import (
        InitReport,
        MigrateReport,
        Refusal,
        auto_heal,
        init_db,
        migrate,
    )
    from ops.schema.scripts import Migrations

# The repair half imports Alembic's command, script and DDL modules (about a second): loaded
# on first use, so a `check-schema` process never pays for them.
_LAZY = {name: "ops.schema.repair" for name in ("InitReport", "MigrateReport", "Refusal")}
_LAZY |= {name: "ops.schema.repair" for name in ("auto_heal", "init_db", "migrate")}
_LAZY["Migrations"] = "ops.schema.scripts"
# The comparison (reflection, every dialect's reader: ~40 ms) loads on first use too: the
# service's fallback store imports `ops.schema.flock`, and with it this package.
_LAZY |= {name: "ops.schema.check" for name in ("SchemaReport", "check_schema")}
_LAZY |= {name: "ops.schema.check" for name in ("load_metadata", "safe_url")}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ops.schema' has no attribute {name!r}")


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
