"""check_schema: the side-effect-free comparison other checks (doctor, /readyz, metrics) call."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, MetaData
from sqlalchemy import exc as sa_exc

from ops.errors import BadModelsPath, CannotConnect, first_line, safe_url
from ops.schema.compare import compare_schema
from ops.schema.difference import Difference, Severity
from ops.schema.reflect import reflect_schema


@dataclass
class SchemaReport:
    """The result of one comparison; `in_sync` is True only when nothing differs."""

    differences: list[Difference] = field(default_factory=list)
    dialect: str = ""
    tables_checked: int = 0

    @property
    def in_sync(self) -> bool:
        return not self.differences

    def count(self, severity: Severity) -> int:
        """How many differences have this severity."""
        return sum(1 for d in self.differences if d.severity is severity)

    def to_json(self) -> dict[str, Any]:
        """`{"in_sync", "differences": [...]}` plus the dialect and a per-severity summary."""
        return {
            "in_sync": self.in_sync,
            "differences": [d.to_dict() for d in self.differences],
            "dialect": self.dialect,
            "summary": {s.value: self.count(s) for s in Severity},
        }


@contextmanager
def connect(engine: Engine) -> Iterator[Connection]:
    """Open a connection, turning "cannot reach the database" into CannotConnect."""
    try:
        conn = engine.connect()
    except (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DBAPIError) as exc:
        raise CannotConnect(safe_url(engine), first_line(exc)) from exc
    with conn:
        yield conn


def load_metadata(path: str) -> MetaData:
    """Import `module:attr` naming a MetaData or a declarative base and return its MetaData."""
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise BadModelsPath(path, "expected MODULE:ATTR, e.g. scraper.models:Base")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise BadModelsPath(path, str(exc)) from exc
    metadata = obj if isinstance(obj, MetaData) else getattr(obj, "metadata", None)
    if not isinstance(metadata, MetaData):
        raise BadModelsPath(
            path, f"{type(obj).__name__} is neither a MetaData nor a declarative base"
        )
    return metadata


def check_connection(conn: Connection, metadata: MetaData) -> SchemaReport:
    """Compare on an open connection (used inside migrate's transaction)."""
    live = reflect_schema(conn)
    differences = compare_schema(metadata, live, conn.dialect)
    return SchemaReport(differences, conn.dialect.name, len(metadata.tables))


def check_schema(engine: Engine, metadata: MetaData) -> SchemaReport:
    """Compare the models' MetaData with the live schema in one reflection pass."""
    with connect(engine) as conn:
        return check_connection(conn, metadata)
