"""Optuna, an application nobody here wrote, through its own migrations on three dialects.

Every scenario's database is compared by ops and by Alembic's `compare_metadata`. ops must
report exactly the ground truth of `optuna_corpus` (drift confirmed in Optuna's migration
files, each fact with its reason there): no false positive, no miss. Alembic's score on the
same database is recorded with the test (`record_property`) and printed by
`python -m tests.ops.schema.optuna_corpus` as the dialect x scenario table.

On MariaDB Optuna's own chain stops at v2.4.0.a with error 1072 (it drops a column that is
still part of a unique key, Optuna's bug): there the head schema is built by Optuna's
`RDBStorage` (create_all + stamp), and the intermediate revisions are v1.3.0.a and v0.9.0.a,
which MariaDB reaches.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ops.schema.pytest_plugin import SchemaChecker
from tests.conftest import fresh_database
from tests.ops.schema import optuna_corpus as corpus

MARKS = {"postgresql": [pytest.mark.postgres], "mariadb": [pytest.mark.mariadb], "sqlite": []}
CASES = [
    pytest.param(dialect, dialect, scenario, marks=MARKS[dialect], id=f"{dialect}-{scenario}")
    for dialect, scenarios in corpus.SCENARIOS.items()
    for scenario in scenarios
]
optuna_schema = pytest.mark.ops_schema(models=corpus.METADATA, alembic_config=corpus.alembic_config)


@pytest.fixture
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        yield url


@optuna_schema
@pytest.mark.parametrize(("database", "dialect", "scenario"), CASES, indirect=["database"])
def test_ops_reports_exactly_the_drift_optunas_migrations_leave(
    database: str,
    dialect: str,
    scenario: str,
    ops_schema: SchemaChecker,
    record_property: pytest.RecordProperty,
) -> None:
    ops, alembic = corpus.evaluate(dialect, scenario, database, ops_schema.upgrade)
    record_property("ops", str(ops))
    record_property("alembic", str(alembic))
    assert ops.false_facts == () and ops.missed_facts == (), (ops, alembic)
    assert ops.true == len(corpus.truth(dialect, scenario))


@optuna_schema
@pytest.mark.parametrize(
    "database",
    ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
    indirect=True,
)
def test_optuna_create_all_passes_the_plugins_check(
    database: str, ops_schema: SchemaChecker
) -> None:
    corpus.build(database, "create_all", ops_schema.upgrade)
    assert ops_schema.assert_in_sync(database).in_sync


@optuna_schema
def test_optuna_migrations_fail_the_plugins_check_with_the_grouped_report(
    ops_schema: SchemaChecker,
) -> None:
    with pytest.raises(pytest.fail.Exception) as failed:
        ops_schema.assert_migrations_match_models()
    report = str(failed.value)
    assert report.startswith("Schema drift in sqlite:///")
    assert "trial_heartbeats:\n  CRITICAL missing_table trial_heartbeats" in report
    assert "trial_values:\n  WARNING  nullability_mismatch trial_values.trial_id" in report
    assert "Summary: 2 differences in 2 tables (1 critical, 1 warning, 0 info)." in report
