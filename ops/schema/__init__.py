"""Schema drift detection and safe repair: the public API of the ops toolkit's schema half.

`check_schema` is fast (one reflection pass) and side-effect free; `init_db`, `migrate` and
`auto_heal` change the database, never dropping or narrowing without `allow_destructive`.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ops.schema.check import SchemaReport, check_schema, load_metadata, safe_url
from ops.schema.difference import Difference, Repair, Severity

if TYPE_CHECKING:
    from ops.schema.repair import (
        InitReport,
        MigrateReport,
        Refusal,
        auto_heal,
        head_revision,
        init_db,
        migrate,
    )

# The repair half imports Alembic's command and DDL modules (about a second): loaded on
# first use, so a `check-schema` process never pays for them.
_REPAIR = {"InitReport", "MigrateReport", "Refusal", "auto_heal", "head_revision", "init_db"}
_REPAIR |= {"migrate"}


def __getattr__(name: str) -> Any:
    if name in _REPAIR:
        return getattr(import_module("ops.schema.repair"), name)
    raise AttributeError(f"module 'ops.schema' has no attribute {name!r}")


__all__ = [
    "Difference",
    "InitReport",
    "MigrateReport",
    "Refusal",
    "Repair",
    "SchemaReport",
    "Severity",
    "auto_heal",
    "check_schema",
    "head_revision",
    "init_db",
    "load_metadata",
    "migrate",
    "safe_url",
]
