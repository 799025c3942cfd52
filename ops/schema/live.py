"""What reflection returns: the live tables in the inspector's own dictionaries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

VERSION_TABLE = "alembic_version"

Key = tuple[str | None, str]


@dataclass
class LiveTable:
    """Everything reflected about one table, in the inspector's own dictionaries."""

    name: str
    columns: list[dict[str, Any]] = field(default_factory=list)
    indexes: list[dict[str, Any]] = field(default_factory=list)
    uniques: list[dict[str, Any]] = field(default_factory=list)
    foreign_keys: list[dict[str, Any]] = field(default_factory=list)
    primary_key: dict[str, Any] = field(default_factory=dict)
    checks: list[dict[str, Any]] = field(default_factory=list)
    # Collation and character set (ops.schema.reflect_collation): per column, the collation
    # it was declared with (None: the database's default; MariaDB names every text column's);
    # MariaDB also the column's character set and the table's defaults.
    collations: dict[str, str | None] = field(default_factory=dict)
    charsets: dict[str, str] = field(default_factory=dict)
    table_collation: str | None = None
    table_charset: str | None = None

    def column(self, name: str) -> dict[str, Any] | None:
        """The reflected column called `name`, or None."""
        return next((c for c in self.columns if c["name"] == name), None)


@dataclass
class LiveSchema:
    """The reflected tables of one schema, keyed by table name (Alembic's own table excluded)."""

    dialect: str
    is_mariadb: bool
    tables: dict[str, LiveTable]
    # Objects besides tables, by kind: "triggers", "extensions", "virtual_tables" (SQLite's
    # virtual tables; they and their shadow tables are not in `tables`).
    objects: dict[str, set[str]] = field(default_factory=dict)
    # Kinds of objects the account may not see, with why: their absence proves nothing
    # (MariaDB shows triggers only to an account with the TRIGGER privilege).
    unseen: dict[str, str] = field(default_factory=dict)
