"""A real application's schema history as a test corpus: Optuna's models and its own migrations.

Each scenario builds a database the way Optuna's users get one (its Alembic migrations to head
or to an older revision, `create_all`, `RDBStorage`), then `ops` and Alembic's
`compare_metadata` both compare it with Optuna's models. Their findings are reduced to facts
`(table, column or columns, aspect)` and scored against the ground truth below, which is read
from Optuna's migration files (optuna/storages/_rdb/alembic/versions).

    .venv/bin/python -m tests.ops.schema.optuna_corpus    # prints the dialect x scenario table
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna.storages._rdb as optuna_rdb
import sqlalchemy as sa
from alembic.config import Config
from optuna.storages._rdb.models import BaseModel

from ops.schema import Difference

Fact = tuple[str, str | None, str]
METADATA = BaseModel.metadata
ALEMBIC_DIR = Path(optuna_rdb.__file__).parent / "alembic"

# -- ground truth, each fact with the migration that makes it true -----------------------------

# What a database migrated to head still lacks (the same on every dialect the chain reaches).
HEAD: dict[Fact, str] = {
    ("trial_heartbeats", None, "table"): "no migration creates it: RDBStorage's create_all does",
    ("trial_values", "trial_id", "nullable"): "v0.9.0.a creates it NULL; the model says NOT NULL",
}
# PostgreSQL only: v1.2.0.a alters trials.state to a same-named Enum with WAITING added; on
# PostgreSQL that reuses the existing trialstate type, so WAITING is never added (checked with
# enum_range): every write of a WAITING trial fails.
POSTGRES_ENUM: dict[Fact, str] = {
    ("trials", "state", "type"): "v1.2.0.a never adds WAITING to PostgreSQL's trialstate type",
}
# Later migrations' changes, by the revision a database stopped at.
AFTER_V3_0_0_A: dict[Fact, str] = {
    ("trials", "study_id", "index"): "v3.2.0.a creates it (as trials_study_id_key)",
    ("trial_intermediate_values", "intermediate_value", "nullable"): "v3.0.0.b makes it NULL",
    ("trial_intermediate_values", "intermediate_value_type", "column"): "v3.0.0.c adds it",
    ("trial_values", "value_type", "column"): "v3.0.0.d adds it",
}
AFTER_V1_3_0_A: dict[Fact, str] = {
    ("trials", "study_id", "index"): "v3.2.0.a creates it (as trials_study_id_key)",
    ("study_directions", None, "table"): "v2.4.0.a creates it",
    ("trial_intermediate_values", None, "table"): "v2.4.0.a creates it",
    ("studies", "direction", "column"): "v2.4.0.a drops it",
    ("trials", "value", "column"): "v2.4.0.a drops it",
    ("trial_values", "step", "column"): "v2.4.0.a drops it",
    ("trial_values", "objective", "column"): "v2.4.0.a adds it",
    ("trial_values", "trial_id,step", "unique"): "goes with the step column (v2.4.0.a)",
    ("trial_values", "trial_id,objective", "unique"): "v2.4.0.a creates it",
    ("study_user_attributes", "value_json", "type"): "v2.6.0.a: VARCHAR(2048) -> TEXT",
    ("study_system_attributes", "value_json", "type"): "v2.6.0.a: VARCHAR(2048) -> TEXT",
    ("trial_user_attributes", "value_json", "type"): "v2.6.0.a: VARCHAR(2048) -> TEXT",
    ("trial_system_attributes", "value_json", "type"): "v2.6.0.a: VARCHAR(2048) -> TEXT",
    ("trial_params", "distribution_json", "type"): "v2.6.0.a: VARCHAR(2048) -> TEXT",
    ("trial_values", "value_type", "column"): "v3.0.0.d adds it",
}
# MariaDB only: FLOAT is single precision there, so v3.0.0.b's Float(53) is a real change.
MARIADB_FLOATS: dict[Fact, str] = {
    ("trial_params", "param_value", "type"): "v3.0.0.b: FLOAT -> Float(53) (DOUBLE on MariaDB)",
    ("trial_values", "value", "type"): "v3.0.0.b: FLOAT -> Float(53) (DOUBLE on MariaDB)",
}
MARIADB_V1_2: dict[Fact, str] = {
    ("trials", "state", "nullable"): "v1.2.0.a's alter_column (no existing_nullable) is a "
    "MySQL MODIFY that drops NOT NULL; no later migration restores it",
}
MARIADB_V0_9: dict[Fact, str] = {
    ("trials", "state", "type"): "v1.2.0.a adds WAITING to the trialstate enum",
    ("trials", "number", "column"): "v1.3.0.a adds it",
}
# Not drift: an index whose name alone differs (v3.2.0.a's trials_study_id_key for the model's
# ix_trials_study_id) enforces and serves the same; Alembic reports it as drop + create.


def truth(dialect: str, scenario: str) -> dict[Fact, str]:
    """The facts a correct comparator reports for this database."""
    if scenario in {"create_all", "rdbstorage"}:
        return {}
    later = {"head": {}, "v3.0.0.a": AFTER_V3_0_0_A, "v1.3.0.a": AFTER_V1_3_0_A}
    found = {**HEAD, **later.get(scenario, AFTER_V1_3_0_A)}
    if dialect == "postgresql":
        found |= POSTGRES_ENUM
    if dialect == "mariadb":
        found.pop(("trials", "study_id", "index"))  # the foreign key's own index serves it there
        found |= MARIADB_FLOATS
        found |= MARIADB_V0_9 if scenario == "v0.9.0.a" else MARIADB_V1_2
    return found


# On MariaDB, Optuna's chain stops at v2.4.0.a with error 1072 (it drops `step`, still part of
# a unique key: Optuna's bug). There the head schema is built by RDBStorage (create_all + stamp)
# and the intermediate revisions are two that MariaDB reaches.
SCENARIOS = {
    "sqlite": ["head", "create_all", "v3.0.0.a", "v1.3.0.a"],
    "postgresql": ["head", "create_all", "v3.0.0.a", "v1.3.0.a"],
    "mariadb": ["rdbstorage", "create_all", "v1.3.0.a", "v0.9.0.a"],
}


# -- building the databases ---------------------------------------------------------------------


def alembic_config() -> Config:
    """Optuna's own Alembic environment, as RDBStorage configures it."""
    config = Config(str(ALEMBIC_DIR.parent / "alembic.ini"))
    config.set_main_option("script_location", str(ALEMBIC_DIR))
    return config


def build(url: str, scenario: str, upgrade: Any) -> None:
    """Build Optuna's schema at `url` as the scenario says; `upgrade(url, revision)` migrates."""
    if scenario == "create_all":
        engine = sa.create_engine(url)
        METADATA.create_all(engine)
        engine.dispose()
    elif scenario == "rdbstorage":
        from optuna.storages import RDBStorage

        RDBStorage(url, skip_compatibility_check=True).engine.dispose()
    else:
        if not logging.getLogger().handlers:  # Optuna's env.py calls fileConfig without one
            logging.getLogger().addHandler(logging.NullHandler())
        upgrade(url, scenario)


# -- facts from each tool -----------------------------------------------------------------------

_ASPECT = {
    "table": "table",
    "column": "column",
    "type_mismatch": "type",
    "nullability_mismatch": "nullable",
    "default_mismatch": "default",
    "index": "index",
    "unique_constraint": "unique",
    "foreign_key": "fk",
    "foreign_key_mismatch": "fk",
    "check_constraint": "check",
    "primary_key_mismatch": "pk",
}


def ops_facts(differences: Iterable[Difference]) -> set[Fact]:
    """Facts from ops' differences; a probable rename names both columns."""
    facts: set[Fact] = set()
    for diff in differences:
        if diff.kind == "probable_rename":
            facts |= {(diff.table, diff.expected, "column"), (diff.table, diff.actual, "column")}
            continue
        kind = diff.kind.removeprefix("missing_").removeprefix("unexpected_")
        column = None if kind in {"table", "check_constraint"} else diff.column
        facts.add((diff.table, column, _ASPECT[kind]))
    return facts


def _columns(obj: Any) -> str:
    return ",".join(str(getattr(c, "name", c)) for c in obj.columns) or str(obj.name)


def _alembic_fact(diff: Any) -> Fact | None:
    if isinstance(diff, list):  # modify_* entries come grouped per column
        op, _schema, table, column = diff[0][:4]
        return (table, column, op.removeprefix("modify_").replace("server_default", "default"))
    op, obj = diff[0], diff[-1]
    if op in {"add_table", "remove_table"}:
        return (obj.name, None, "table")
    if op in {"add_column", "remove_column"}:
        return (diff[2], obj.name, "column")
    if op in {"add_index", "remove_index"}:
        return (obj.table.name, _columns(obj), "unique" if obj.unique else "index")
    if op in {"add_constraint", "remove_constraint"} and isinstance(obj, sa.UniqueConstraint):
        return (obj.table.name, _columns(obj), "unique")
    if op in {"add_fk", "remove_fk"}:
        return (obj.parent.name, ",".join(obj.column_keys), "fk")
    return None


def alembic_facts(url: str) -> set[Fact]:
    """Facts from Alembic's compare_metadata (types and server defaults compared too)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        opts = {"compare_type": True, "compare_server_default": True}
        diffs = compare_metadata(MigrationContext.configure(conn, opts=opts), METADATA)
    engine.dispose()
    return {fact for fact in map(_alembic_fact, diffs) if fact is not None}


@dataclass(frozen=True)
class Score:
    """One tool on one database: facts it got right, reported wrongly, and missed."""

    true: int
    false: int
    missed: int
    false_facts: tuple[Fact, ...] = ()
    missed_facts: tuple[Fact, ...] = ()

    def __str__(self) -> str:
        return f"{self.true}/{self.false}/{self.missed}"


def score(found: set[Fact], expected: dict[Fact, str]) -> Score:
    """Compare a tool's facts with the ground truth."""
    wanted = set(expected)
    return Score(
        len(found & wanted),
        len(found - wanted),
        len(wanted - found),
        tuple(sorted(found - wanted, key=str)),
        tuple(sorted(wanted - found, key=str)),
    )


def table(rows: list[tuple[str, str, Score, Score]]) -> str:
    """The comparison as a Markdown table (true/false/missed per tool)."""
    lines = [
        "| dialect | scenario | ops true/false/missed | Alembic true/false/missed |",
        "|---|---|---|---|",
    ]
    lines += [f"| {d} | {s} | {o} | {a} |" for d, s, o, a in rows]
    return "\n".join(lines)


def evaluate(dialect: str, scenario: str, url: str, upgrade: Any) -> tuple[Score, Score]:
    """Build the scenario's database at `url`, then score ops and Alembic on it."""
    from ops.schema import check_schema

    build(url, scenario, upgrade)
    engine = sa.create_engine(url)
    found = ops_facts(check_schema(engine, METADATA).differences)
    engine.dispose()
    expected = truth(dialect, scenario)
    return score(found, expected), score(alembic_facts(url), expected)


def _upgrade(url: str, revision: str) -> None:
    from alembic import command

    config = alembic_config()
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(config, revision)


def _main() -> None:
    """Print the table for every dialect reachable from this machine."""
    import tempfile

    from tests.conftest import _probe, fresh_database

    rows = []
    for dialect, scenarios in SCENARIOS.items():
        if dialect != "sqlite" and _probe(dialect):
            continue
        for scenario in scenarios:
            with tempfile.TemporaryDirectory() as tmp, fresh_database(dialect, Path(tmp)) as url:
                rows.append((dialect, scenario, *evaluate(dialect, scenario, url, _upgrade)))
    print(table(rows))
    for dialect, scenario, ops, ale in rows:
        for tool, result in (("ops", ops), ("Alembic", ale)):
            for fact in result.false_facts:
                print(f"{tool} false on {dialect}/{scenario}: {fact}")
            for fact in result.missed_facts:
                print(f"{tool} missed on {dialect}/{scenario}: {fact}")


if __name__ == "__main__":
    _main()
