"""The Alembic scripts a schema is migrated with, named by location so the library knows no app."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection


@dataclass(frozen=True)
class Migrations:
    """An Alembic script directory (its `env.py` reads `config.attributes["connection"]`)."""

    location: str | Path

    def config(self, connection: Connection | None = None) -> Config:
        """An Alembic Config for these scripts, reusing an open connection when given."""
        config = Config()
        config.set_main_option("script_location", str(self.location))
        config.set_main_option("path_separator", "os")
        if connection is not None:
            config.attributes["connection"] = connection
        return config

    def head(self) -> str:
        """The newest revision in the script directory."""
        head = ScriptDirectory.from_config(self.config()).get_current_head()
        assert head is not None, f"{self.location} has no revisions"
        return head
