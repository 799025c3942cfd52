"""What migrate and init_db did (or would do): the reports the CLI and the self-healer render."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ops.schema.blocking import Operation
from ops.schema.difference import Difference


@dataclass
class Refusal:
    """A change migrate did not make, why, and what would make it."""

    table: str
    column: str | None
    kind: str
    reason: str
    remedy: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return dict(vars(self))


@dataclass
class MigrateReport:
    """What migrate did (or, with dry_run/sql, would do)."""

    dialect: str
    dry_run: bool = False
    applied: list[Difference] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    upgraded: bool = False
    stamped: str | None = None
    backup_path: str | None = None
    sql: str = ""
    remaining: list[Difference] = field(default_factory=list)
    operations: list[Operation] = field(default_factory=list)

    @property
    def in_sync(self) -> bool:
        return not self.remaining

    def to_json(self) -> dict[str, Any]:
        """JSON form: applied and remaining differences, refusals, backup path, SQL."""
        return {
            "dialect": self.dialect,
            "dry_run": self.dry_run,
            "in_sync": self.in_sync,
            "upgraded": self.upgraded,
            "stamped": self.stamped,
            "backup_path": self.backup_path,
            "applied": [d.to_dict() for d in self.applied],
            "refused": [r.to_dict() for r in self.refused],
            "remaining": [d.to_dict() for d in self.remaining],
            "sql": self.sql,
            "operations": [o.to_dict() for o in self.operations],
        }


@dataclass
class InitReport:
    """What init_db created; `created` is empty when the database was already complete."""

    dialect: str
    created: list[str] = field(default_factory=list)
    stamped: str | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {"dialect": self.dialect, "created": self.created, "stamped": self.stamped}
