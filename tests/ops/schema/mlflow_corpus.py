"""A second real application as a test corpus: MLflow's tracking store, rebuilt here.

The tables restate the schema that MLflow's SQLAlchemy models declare in
`mlflow/store/tracking/dbmodels/models.py` (https://github.com/mlflow/mlflow, commit 0fdcfad8;
MLflow is Copyright Databricks, Inc. and licensed under the Apache License 2.0). MLflow is not
a dependency (it pulls in hundreds of megabytes), so only what reaches the database is written
down again, in Core form: table and column names, types, nullability, named primary keys,
foreign keys with their ON DELETE, indexes, CHECK constraints, server defaults. Python-side
defaults, relationships and methods are left out.

MLflow's models declare `index_trace_tags_request_id` and
`index_trace_request_metadata_request_id` without columns, so `create_all` on them fails
(`CREATE INDEX … ()`); MLflow's migrations create both on `request_id`. METADATA keeps them as
the models declare them (what `ops check-schema --models …` meets); the databases are built
from MIGRATED, the same tables with those two indexes as the migrations make them. Two
additions, each named where it is made:

- `uq_inputs_input_uuid` comes from MLflow's later revision 9eae7ec868c3 (PostgreSQL refuses
  input_tags' foreign key to `inputs.input_uuid` without it).
- `experiments.name` carries the case-sensitive collation pin MLflow's revision 7c4d9e2f1a86
  puts on its MCP version strings (`utf8mb4_bin` on MySQL/MariaDB; `C` added for PostgreSQL),
  so that the corpus has a unique key whose case-sensitivity depends on a collation.

Scenarios: `create_all` (of MIGRATED: nothing to report), and `drift`: the same database after ten
changes (a column, an index, a unique key, a CHECK and a foreign key dropped; a type narrowed,
NOT NULL lifted, a server default, a collation and an ON DELETE changed), each of which ops must
report exactly.

    .venv/bin/python -m tests.ops.schema.mlflow_corpus    # prints the dialect x scenario table
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import BigInteger, Boolean, Float, Integer, String, Text, UnicodeText
from sqlalchemy import Column as C

from tests.ops.schema.corpus_facts import (
    Fact,
    Score,
    alembic_facts,
    ops_facts,
    print_findings,
    reachable,
    scratch_database,
)
from tests.ops.schema.corpus_facts import score as score_facts

METADATA = sa.MetaData()
STAGES = ["active", "deleted"]
SOURCE_TYPES = ["NOTEBOOK", "JOB", "LOCAL", "UNKNOWN", "PROJECT"]
RUN_STATUSES = ["SCHEDULED", "FAILED", "FINISHED", "RUNNING", "KILLED"]
EXPERIMENT = "experiments.experiment_id"
RUN = "runs.run_uuid"
TRACE = "trace_info.request_id"
# The pin of MLflow's revision 7c4d9e2f1a86, on experiments.name (see the module docstring).
CASE_SENSITIVE = (
    String(256)
    .with_variant(String(256, collation="utf8mb4_bin"), "mysql", "mariadb")
    .with_variant(String(256, collation="C"), "postgresql")
)


def _one_of(column: str, values: list[str], name: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(sa.column(column).in_(values), name=name)


def _table(name: str, *items: sa.SchemaItem) -> sa.Table:
    return sa.Table(name, METADATA, *items)


def _metrics(name: str, *key: sa.SchemaItem) -> sa.Table:
    """metrics and latest_metrics: the same columns, their own primary key."""
    return _table(
        name,
        C("key", String(250)),
        C("value", Float(precision=53), nullable=False),
        C("timestamp", BigInteger),
        C("step", BigInteger, nullable=False),
        C("is_nan", Boolean(create_constraint=True), nullable=False),
        C("run_uuid", String(32), sa.ForeignKey(RUN)),
        *key,
        sa.Index(f"index_{name}_run_uuid", "run_uuid"),
    )


def _key_value(
    name: str, owner: C[str], key: sa.PrimaryKeyConstraint, *items: sa.SchemaItem
) -> sa.Table:
    """tags, trace_tags, trace_request_metadata: a key, a long value, the owner's id."""
    return _table(
        name, C("key", String(250)), C("value", String(8000), nullable=True), owner, *items
    )


_table(
    "experiments",
    C("experiment_id", Integer, autoincrement=True),
    C("name", CASE_SENSITIVE, unique=True, nullable=False),
    C("artifact_location", String(256), nullable=True),
    C("lifecycle_stage", String(32)),
    C("creation_time", BigInteger),
    C("last_update_time", BigInteger),
    _one_of("lifecycle_stage", STAGES, "experiments_lifecycle_stage"),
    sa.PrimaryKeyConstraint("experiment_id", name="experiment_pk"),
)
_table(
    "runs",
    C("run_uuid", String(32), nullable=False),
    C("name", String(250)),
    C("source_type", String(20)),
    C("source_name", String(500)),
    C("entry_point_name", String(50)),
    C("user_id", String(256), nullable=True),
    C("status", String(20)),
    C("start_time", BigInteger),
    C("end_time", BigInteger, nullable=True),
    C("deleted_time", BigInteger, nullable=True),
    C("source_version", String(50)),
    C("lifecycle_stage", String(20)),
    C("artifact_uri", String(200)),
    C("experiment_id", Integer, sa.ForeignKey(EXPERIMENT)),
    _one_of("source_type", SOURCE_TYPES, "source_type"),
    _one_of("status", RUN_STATUSES, "status"),
    _one_of("lifecycle_stage", STAGES, "runs_lifecycle_stage"),
    sa.PrimaryKeyConstraint("run_uuid", name="run_pk"),
)
_table(
    "experiment_tags",
    C("key", String(250)),
    C("value", String(5000), nullable=True),
    C("experiment_id", Integer, sa.ForeignKey(EXPERIMENT)),
    sa.PrimaryKeyConstraint("key", "experiment_id", name="experiment_tag_pk"),
)
_key_value(
    "tags",
    C("run_uuid", String(32), sa.ForeignKey(RUN)),
    sa.PrimaryKeyConstraint("key", "run_uuid", name="tag_pk"),
    sa.Index("index_tags_run_uuid", "run_uuid"),
)
_metrics(
    "metrics",
    sa.PrimaryKeyConstraint(
        "key", "timestamp", "step", "run_uuid", "value", "is_nan", name="metric_pk"
    ),
)
_metrics("latest_metrics", sa.PrimaryKeyConstraint("key", "run_uuid", name="latest_metric_pk"))
_table(
    "params",
    C("key", String(250)),
    C("value", String(8000), nullable=False),
    C("run_uuid", String(32), sa.ForeignKey(RUN)),
    sa.PrimaryKeyConstraint("key", "run_uuid", name="param_pk"),
    sa.Index("index_params_run_uuid", "run_uuid"),
)
_table(
    "datasets",
    C("dataset_uuid", String(36), nullable=False),
    C("experiment_id", Integer, sa.ForeignKey(EXPERIMENT, ondelete="CASCADE")),
    C("name", String(500), nullable=False),
    C("digest", String(36), nullable=False),
    C("dataset_source_type", String(36), nullable=False),
    C("dataset_source", UnicodeText, nullable=False),
    C("dataset_schema", UnicodeText, nullable=True),
    C("dataset_profile", UnicodeText, nullable=True),
    sa.PrimaryKeyConstraint("experiment_id", "name", "digest", name="dataset_pk"),
    sa.Index("index_datasets_dataset_uuid", "dataset_uuid"),
    sa.Index(
        "index_datasets_experiment_id_dataset_source_type", "experiment_id", "dataset_source_type"
    ),
)
_table(
    "inputs",
    C("input_uuid", String(36), nullable=False),
    C("source_type", String(36), nullable=False),
    C("source_id", String(36), nullable=False),
    C("destination_type", String(36), nullable=False),
    C("destination_id", String(36), nullable=False),
    C("step", BigInteger, nullable=False, server_default="0"),
    sa.PrimaryKeyConstraint(
        "source_type", "source_id", "destination_type", "destination_id", name="inputs_pk"
    ),
    sa.UniqueConstraint("input_uuid", name="uq_inputs_input_uuid"),  # revision 9eae7ec868c3
    sa.Index("index_inputs_input_uuid", "input_uuid"),
    sa.Index(
        "index_inputs_destination_type_destination_id_source_type",
        "destination_type",
        "destination_id",
        "source_type",
    ),
)
_table(
    "input_tags",
    C("input_uuid", String(36), sa.ForeignKey("inputs.input_uuid"), nullable=False),
    C("name", String(255), nullable=False),
    C("value", String(500), nullable=False),
    sa.PrimaryKeyConstraint("input_uuid", "name", name="input_tags_pk"),
)
_table(
    "trace_info",
    C("request_id", String(50), nullable=False),
    C("experiment_id", Integer, sa.ForeignKey(EXPERIMENT), nullable=False),
    C("timestamp_ms", BigInteger, nullable=False),
    C("execution_time_ms", BigInteger, nullable=True),
    C("status", String(50), nullable=False),
    sa.PrimaryKeyConstraint("request_id", name="trace_info_pk"),
    sa.Index("index_trace_info_experiment_id_timestamp_ms", "experiment_id", "timestamp_ms"),
)
# As in MLflow's models: these two indexes are declared without columns (see MIGRATED).
for _name, _key in (("trace_tags", "trace_tag_pk"), ("trace_request_metadata", None)):
    _key_value(
        _name,
        C("request_id", String(50), sa.ForeignKey(TRACE, ondelete="CASCADE"), nullable=False),
        sa.PrimaryKeyConstraint("request_id", "key", name=_key or f"{_name}_pk"),
        sa.Index(f"index_{_name}_request_id"),
    )
_table(
    "logged_models",
    C("model_id", String(36), nullable=False),
    C("experiment_id", Integer, nullable=False),
    C("name", String(500), nullable=False),
    C("artifact_location", String(1000), nullable=False),
    C("creation_timestamp_ms", BigInteger, nullable=False),
    C("last_updated_timestamp_ms", BigInteger, nullable=False),
    C("status", Integer, nullable=False),
    C("lifecycle_stage", String(32)),
    C("model_type", String(500), nullable=True),
    C("source_run_id", String(32), nullable=True),
    C("status_message", String(1000), nullable=True),
    sa.PrimaryKeyConstraint("model_id", name="logged_models_pk"),
    _one_of("lifecycle_stage", STAGES, "logged_models_lifecycle_stage_check"),
    sa.ForeignKeyConstraint(
        ["experiment_id"], [EXPERIMENT], ondelete="CASCADE", name="fk_logged_models_experiment_id"
    ),
)


def _model_child(name: str, key: str, *items: sa.SchemaItem, run: bool = False) -> sa.Table:
    """logged_model_metrics / _params / _tags: keyed by the model, cascading from it."""
    fks = [
        sa.ForeignKeyConstraint(
            ["model_id"], ["logged_models.model_id"], ondelete="CASCADE", name=f"fk_{name}_model_id"
        ),
        sa.ForeignKeyConstraint(["experiment_id"], [EXPERIMENT], name=f"fk_{name}_experiment_id"),
    ]
    if run:
        fks.append(
            sa.ForeignKeyConstraint(["run_id"], [RUN], ondelete="CASCADE", name=f"fk_{name}_run_id")
        )
    return _table(
        name,
        C("model_id", String(36), nullable=False),
        C("experiment_id", Integer, nullable=False),
        *items,
        sa.PrimaryKeyConstraint("model_id", *key.split(), name=f"{name}_pk"),
        *fks,
    )


_model_child(
    "logged_model_metrics",
    "metric_name metric_timestamp_ms metric_step run_id",
    C("metric_name", String(500), nullable=False),
    C("metric_timestamp_ms", BigInteger, nullable=False),
    C("metric_step", BigInteger, nullable=False),
    C("metric_value", Float(precision=53), nullable=True),
    C("run_id", String(32), nullable=False),
    C("dataset_uuid", String(36), nullable=True),
    C("dataset_name", String(500), nullable=True),
    C("dataset_digest", String(36), nullable=True),
    sa.Index("index_logged_model_metrics_model_id", "model_id"),
    run=True,
)
_model_child(
    "logged_model_params",
    "param_key",
    C("param_key", String(255), nullable=False),
    C("param_value", Text(), nullable=False),
)
_model_child(
    "logged_model_tags",
    "tag_key",
    C("tag_key", String(255), nullable=False),
    C("tag_value", Text(), nullable=False),
)


def _as_migrated() -> sa.MetaData:
    """The schema as MLflow's migrations leave it: the column-less indexes on request_id."""
    migrated = sa.MetaData()
    for table in METADATA.sorted_tables:
        copy = table.to_metadata(migrated)
        for index in [i for i in copy.indexes if not i.expressions]:
            copy.indexes.discard(index)
            sa.Index(index.name, copy.c.request_id)
    return migrated


MIGRATED = _as_migrated()

# -- the drift: changes a person or a half-run script makes, the statements that make each on
# each dialect, and the fact each is ------------------------------------------------------------

Edit = tuple[str, str, str]  # SQLite: (table, text in its CREATE TABLE, replacement)
# Each change: SQL statements (separated by "; "), or an Edit.
INPUTS_INDEX = "index_inputs_destination_type_destination_id_source_type"
STATUS_CHECK = ", \n\tCONSTRAINT status CHECK (status IN ('SCHEDULED', 'FAILED', 'FINISHED', "
STATUS_CHECK += "'RUNNING', 'KILLED'))"
MODEL_FK = "fk_logged_model_params_model_id"
MODEL_FK_SQL = (
    f"ALTER TABLE logged_model_params ADD CONSTRAINT {MODEL_FK} "
    "FOREIGN KEY (model_id) REFERENCES logged_models (model_id)"
)
DRIFT: dict[Fact, dict[str, str | Edit]] = {
    ("runs", "deleted_time", "column"): dict.fromkeys(
        ("sqlite", "postgresql", "mariadb"), "ALTER TABLE runs DROP COLUMN deleted_time"
    ),
    ("inputs", "destination_type,destination_id,source_type", "index"): {
        "sqlite": f"DROP INDEX {INPUTS_INDEX}",
        "postgresql": f"DROP INDEX {INPUTS_INDEX}",
        "mariadb": f"DROP INDEX {INPUTS_INDEX} ON inputs",
    },
    ("params", "value", "type"): {
        "sqlite": ("params", "value VARCHAR(8000)", "value VARCHAR(500)"),
        "postgresql": "ALTER TABLE params ALTER COLUMN value TYPE VARCHAR(500)",
        "mariadb": "ALTER TABLE params MODIFY value VARCHAR(500) NOT NULL",
    },
    ("experiments", "name", "unique"): {
        "sqlite": ("experiments", ", \n\tUNIQUE (name)", ""),
        "postgresql": "ALTER TABLE experiments DROP CONSTRAINT experiments_name_key",
        "mariadb": "ALTER TABLE experiments DROP INDEX name",
    },
    ("experiments", "name", "collation"): {
        "postgresql": "ALTER TABLE experiments ALTER COLUMN name TYPE VARCHAR(256) "
        'COLLATE "default"',
        "mariadb": "ALTER TABLE experiments MODIFY name VARCHAR(256) "
        "COLLATE utf8mb4_general_ci NOT NULL",
    },
    ("latest_metrics", "step", "nullable"): {
        "sqlite": ("latest_metrics", "step BIGINT NOT NULL", "step BIGINT"),
        "postgresql": "ALTER TABLE latest_metrics ALTER COLUMN step DROP NOT NULL",
        "mariadb": "ALTER TABLE latest_metrics MODIFY step BIGINT NULL",
    },
    ("inputs", "step", "default"): {
        "sqlite": ("inputs", "DEFAULT '0'", "DEFAULT '1'"),
        "postgresql": "ALTER TABLE inputs ALTER COLUMN step SET DEFAULT 1",
        "mariadb": "ALTER TABLE inputs ALTER COLUMN step SET DEFAULT 1",
    },
    ("runs", None, "check"): {
        "sqlite": ("runs", STATUS_CHECK, ""),
        "postgresql": "ALTER TABLE runs DROP CONSTRAINT status",
        "mariadb": "ALTER TABLE runs DROP CONSTRAINT status",
    },
    ("input_tags", "input_uuid", "fk"): {
        "sqlite": (
            "input_tags",
            ", \n\tFOREIGN KEY(input_uuid) REFERENCES inputs (input_uuid)",
            "",
        ),
        "postgresql": "ALTER TABLE input_tags DROP CONSTRAINT input_tags_input_uuid_fkey",
        "mariadb": "ALTER TABLE input_tags DROP FOREIGN KEY input_tags_ibfk_1",
    },
    ("logged_model_params", "model_id", "fk"): {  # ON DELETE CASCADE lost
        "sqlite": ("logged_model_params", "(model_id) ON DELETE CASCADE", "(model_id)"),
        "postgresql": f"ALTER TABLE logged_model_params DROP CONSTRAINT {MODEL_FK}; {MODEL_FK_SQL}",
        "mariadb": f"ALTER TABLE logged_model_params DROP FOREIGN KEY {MODEL_FK}; {MODEL_FK_SQL}",
    },
}


def _sqlite_edit(conn: sa.Connection, edit: Edit) -> None:
    """Change a table the SQLite way: drop it and create it again, edited, with its indexes
    (its rows: none, the database is a fresh create_all)."""
    table, old, new = edit
    rows = conn.exec_driver_sql(
        "SELECT type, sql FROM sqlite_schema WHERE tbl_name = ? AND sql IS NOT NULL "
        "ORDER BY type = 'index'",
        (table,),
    ).all()
    assert old in rows[0][1], (old, rows[0][1])
    conn.exec_driver_sql(f"DROP TABLE {table}")
    for kind, sql in rows:
        conn.exec_driver_sql(sql.replace(old, new) if kind == "table" else sql)


def create(url: str) -> None:
    """The schema as a fresh MLflow database has it (MIGRATED's create_all)."""
    engine = sa.create_engine(url)
    MIGRATED.create_all(engine)
    engine.dispose()


def inject_drift(kind: str, url: str) -> dict[Fact, str]:
    """Make every change DRIFT has for this dialect; the facts to report, with their SQL."""
    expected: dict[Fact, str] = {}
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for fact, changes in DRIFT.items():
            change = changes.get(kind)
            if isinstance(change, tuple):
                _sqlite_edit(conn, change)
            elif change is not None:
                for statement in change.split("; "):
                    conn.exec_driver_sql(statement)
            if change is not None:
                expected[fact] = str(change)
    engine.dispose()
    return expected


def evaluate(url: str, expected: dict[Fact, str]) -> tuple[Score, Score]:
    """Score ops and Alembic on the database at `url` against the facts expected there."""
    from ops.schema import check_schema

    engine = sa.create_engine(url)
    found = ops_facts(check_schema(engine, METADATA).differences)
    engine.dispose()
    return score_facts(found, expected), score_facts(alembic_facts(url, METADATA), expected)


def _main() -> None:
    """Print the table for every dialect reachable from this machine."""
    rows = []
    for kind in reachable(("sqlite", "postgresql", "mariadb")):
        with scratch_database(kind) as url:
            create(url)
            rows.append((kind, "create_all", *evaluate(url, {})))
            rows.append((kind, "drift", *evaluate(url, inject_drift(kind, url))))
    print_findings(rows)


if __name__ == "__main__":
    _main()
