"""The Alembic scripts a schema is migrated with, named by location so the library knows no app.

Reading which revisions exist, which is the head and which one a database records needs no
Alembic: the revision files are parsed (never executed) and `alembic_version` is one SELECT.
Alembic itself (about half a second of imports, with Mako and Pygments) loads only when a
migration runs, so `ops doctor` and `/readyz` never pay for it.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text

if TYPE_CHECKING:
    from alembic.config import Config

VERSION_TABLE = "alembic_version"


class RevisionError(RuntimeError):
    """The revision files or the version table are not a single line of history."""


@dataclass(frozen=True)
class Revision:
    """One revision file: its id, the revisions it follows and the first paragraph of its doc."""

    revision: str
    down_revisions: tuple[str, ...]
    doc: str


@dataclass(frozen=True)
class Migrations:
    """An Alembic script directory (its `env.py` reads `config.attributes["connection"]`)."""

    location: str | Path

    def config(self, connection: Connection | None = None) -> Config:
        """An Alembic Config for these scripts, reusing an open connection when given."""
        from alembic.config import Config  # only a migration run needs Alembic itself

        config = Config()
        config.set_main_option("script_location", str(self.location))
        config.set_main_option("path_separator", "os")
        if connection is not None:
            config.attributes["connection"] = connection
        return config

    def revisions(self) -> dict[str, Revision]:
        """Every revision in `versions/`, by id."""
        return _read_revisions(Path(self.location) / "versions")

    def head(self) -> str:
        """The newest revision in the script directory."""
        known = self.revisions()
        followed = {down for rev in known.values() for down in rev.down_revisions}
        heads = sorted(set(known) - followed)
        if len(heads) != 1:
            raise RevisionError(f"{self.location} has {len(heads)} heads: {heads}")
        return heads[0]

    def pending(self, current: str | None) -> list[Revision]:
        """The revisions after `current` up to the head, oldest first (as `alembic upgrade`)."""
        known = self.revisions()
        if current is not None and current not in known:
            raise UnknownRevision(current, self.head())
        done = _ancestry(known, current) if current else set()
        order = _topological(known, self.head())
        return [known[rev] for rev in order if rev not in done]


class UnknownRevision(RevisionError):
    """The database records a revision this code does not ship (a newer release migrated it)."""

    def __init__(self, revision: str, head: str) -> None:
        super().__init__(f"revision {revision} is not among these scripts (head {head})")
        self.revision, self.head = revision, head


def recorded_revision(conn: Connection) -> str | None:
    """The revision `alembic_version` records (None: no table, or no row)."""
    if not inspect(conn).has_table(VERSION_TABLE):
        return None
    found = [row[0] for row in conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))]
    if len(found) > 1:
        raise RevisionError(f"{VERSION_TABLE} records {len(found)} heads: {sorted(found)}")
    return found[0] if found else None


@functools.cache
def _read_revisions(versions: Path) -> dict[str, Revision]:
    found = [_parse(path) for path in sorted(versions.glob("*.py"))]
    return {rev.revision: rev for rev in found if rev is not None}


def _parse(path: Path) -> Revision | None:
    """`revision`, `down_revision` and the docstring of a revision file, read without running it."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    values: dict[str, object] = {}
    for node in tree.body:
        target, value = _assignment(node)
        if target in ("revision", "down_revision") and value is not None:
            values[target] = ast.literal_eval(value)
    revision = values.get("revision")
    if not isinstance(revision, str):
        return None
    down = values.get("down_revision")
    downs = tuple(down) if isinstance(down, list | tuple) else ((down,) if down else ())
    doc = (ast.get_docstring(tree, clean=False) or "").strip()
    return Revision(revision, tuple(str(d) for d in downs), doc.split("\n\n")[0])


def _assignment(node: ast.stmt) -> tuple[str | None, ast.expr | None]:
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target = node.targets[0]
        return (target.id if isinstance(target, ast.Name) else None), node.value
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return node.target.id, node.value
    return None, None


def _ancestry(known: dict[str, Revision], revision: str) -> set[str]:
    """`revision` and every revision before it."""
    seen: set[str] = set()
    todo = [revision]
    while todo:
        rev = todo.pop()
        if rev not in seen and rev in known:
            seen.add(rev)
            todo.extend(known[rev].down_revisions)
    return seen


def _topological(known: dict[str, Revision], head: str) -> list[str]:
    """The head's ancestry, each revision after the ones it follows."""
    order: list[str] = []
    placed: set[str] = set()

    def place(rev: str) -> None:
        if rev in placed or rev not in known:
            return
        placed.add(rev)
        for down in known[rev].down_revisions:
            place(down)
        order.append(rev)

    place(head)
    return order
