"""pytest plugin: assert in your own suite that the database your migrations build matches
your models, with ops' comparator (the check pytest-alembic's `test_model_definitions_match_ddl`
makes, without its false positives on unnamed CHECKs, expression indexes and type CHECKs).

Configure it in `pyproject.toml` (or pytest.ini):

    [tool.pytest.ini_options]
    ops_schema_models = "myapp.models:Base"     # MetaData, declarative base or Flask-SQLAlchemy db
    ops_schema_alembic_config = "alembic.ini"   # a file, or MODULE:ATTR naming a Config (or a
                                                # function returning one)

and write a test:

    def test_migrations_match_models(ops_schema):
        ops_schema.assert_migrations_match_models()  # fresh SQLite file -> upgrade head -> compare

`ops_schema.assert_in_sync(url)` compares a database you built; `ops_schema.upgrade(url, rev)`
runs the migrations. `@pytest.mark.ops_schema(models=..., alembic_config=...)` overrides the
settings for one test. A failure's message is the same grouped report `ops check-schema` prints.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import MetaData, create_engine

from ops.schema.check import SchemaReport, check_schema, load_metadata, safe_url
from ops.schema.text import render_report

if TYPE_CHECKING:
    from alembic.config import Config

MODELS, ALEMBIC = "ops_schema_models", "ops_schema_alembic_config"


class SchemaSetupError(Exception):
    """The plugin's settings do not name models or an Alembic configuration it can load."""


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the ini settings."""
    parser.addini(MODELS, "MODULE:ATTR of the models' MetaData, declarative base or db")
    parser.addini(ALEMBIC, "alembic.ini path, or MODULE:ATTR naming an Alembic Config")


def pytest_configure(config: pytest.Config) -> None:
    """Register the `ops_schema` mark."""
    config.addinivalue_line(
        "markers", "ops_schema(models=None, alembic_config=None): override the schema settings"
    )


def _alembic_config(spec: Any, root: Path) -> Config:
    from alembic.config import Config  # imported by tests that migrate, not at collection

    if isinstance(spec, Config):
        return spec
    if callable(spec):
        return _alembic_config(spec(), root)
    text = str(spec)
    path = Path(text) if Path(text).is_absolute() else root / text
    if path.suffix == ".ini" or path.is_file():
        return Config(str(path))
    module, _, attr = text.partition(":")
    if not module or not attr:
        raise SchemaSetupError(f"{ALEMBIC}={text!r}: not a file and not MODULE:ATTR")
    return _alembic_config(getattr(importlib.import_module(module), attr), root)


@dataclass
class SchemaChecker:
    """Runs migrations and compares, with the settings of the test that asked for it."""

    models: Any
    alembic: Any
    root: Path
    tmp_path: Path
    _metadata: MetaData | None = field(default=None, repr=False)

    @property
    def metadata(self) -> MetaData:
        """The models' MetaData."""
        if self._metadata is None:
            if not self.models:
                raise SchemaSetupError(f"set {MODELS} (ini) or @pytest.mark.ops_schema(models=)")
            spec = self.models
            self._metadata = load_metadata(spec) if isinstance(spec, str) else _as_metadata(spec)
        return self._metadata

    def alembic_config(self, url: str) -> Config:
        """The Alembic Config, pointed at `url`."""
        if not self.alembic:
            raise SchemaSetupError(
                f"set {ALEMBIC} (ini) or @pytest.mark.ops_schema(alembic_config=)"
            )
        config = _alembic_config(self.alembic, self.root)
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
        return config

    def upgrade(self, url: str, revision: str = "head") -> None:
        """Run the migrations on `url` up to `revision`."""
        from alembic import command  # heavy, and only needed by tests that migrate

        command.upgrade(self.alembic_config(url), revision)

    def report(self, url: str) -> SchemaReport:
        """Compare the models with the database at `url`."""
        engine = create_engine(url)
        try:
            return check_schema(engine, self.metadata)
        finally:
            engine.dispose()

    def assert_in_sync(self, url: str) -> SchemaReport:
        """Fail the test with the grouped drift report unless `url` matches the models."""
        report = self.report(url)
        if not report.in_sync:
            engine = create_engine(url)
            text = render_report(report, safe_url(engine))
            engine.dispose()
            pytest.fail(text, pytrace=False)
        return report

    def assert_migrations_match_models(self, url: str | None = None) -> SchemaReport:
        """Upgrade a database (default: a new SQLite file) to head and assert it matches."""
        url = url or f"sqlite:///{self.tmp_path / 'ops-schema.db'}"
        self.upgrade(url)
        return self.assert_in_sync(url)


def _as_metadata(obj: Any) -> MetaData:
    metadata = obj if isinstance(obj, MetaData) else getattr(obj, "metadata", None)
    if not isinstance(metadata, MetaData):
        raise SchemaSetupError(f"{obj!r} has no MetaData")
    return metadata


@pytest.fixture
def ops_schema(request: pytest.FixtureRequest, tmp_path: Path) -> SchemaChecker:
    """A SchemaChecker configured by the `ops_schema` mark, else by the ini settings."""
    mark = request.node.get_closest_marker("ops_schema")
    options = dict(mark.kwargs) if mark else {}
    config = request.config
    return SchemaChecker(
        models=options.get("models") or config.getini(MODELS) or None,
        alembic=options.get("alembic_config") or config.getini(ALEMBIC) or None,
        root=config.rootpath,
        tmp_path=tmp_path,
    )
