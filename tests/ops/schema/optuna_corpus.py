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
from pathlib import Path
from typing import Any

import optuna.storages._rdb as optuna_rdb
import sqlalchemy as sa
from alembic.config import Config
from optuna.storages._rdb.models import BaseModel

from tests.ops.schema.corpus_facts import (
    Fact,
    Score,
    alembic_facts,
    ops_facts,
    print_findings,
    reachable,
    score,
    scratch_database,
)

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


def evaluate(dialect: str, scenario: str, url: str, upgrade: Any) -> tuple[Score, Score]:
    """Build the scenario's database at `url`, then score ops and Alembic on it."""
    from ops.schema import check_schema

    build(url, scenario, upgrade)
    engine = sa.create_engine(url)
    found = ops_facts(check_schema(engine, METADATA).differences)
    engine.dispose()
    expected = truth(dialect, scenario)
    return score(found, expected), score(alembic_facts(url, METADATA), expected)


def _upgrade(url: str, revision: str) -> None:
    from alembic import command

    config = alembic_config()
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(config, revision)


def _main() -> None:
    """Print the table for every dialect reachable from this machine."""
    rows = []
    for dialect in reachable(SCENARIOS):
        for scenario in SCENARIOS[dialect]:
            with scratch_database(dialect) as url:
                rows.append((dialect, scenario, *evaluate(dialect, scenario, url, _upgrade)))
    print_findings(rows)


if __name__ == "__main__":
    _main()
