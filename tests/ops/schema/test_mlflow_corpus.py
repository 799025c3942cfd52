"""MLflow's tracking store, a second application nobody here wrote, on three dialects.

A fresh database (`create_all` of the schema MLflow's migrations make) must be in sync with
MLflow's models as they declare it, and after `mlflow_corpus.DRIFT`'s changes ops must report
each of them and nothing else. Alembic's `compare_metadata` score on the same databases is
recorded with the test (`record_property`); `python -m tests.ops.schema.mlflow_corpus` prints it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import DIALECTS, fresh_database
from tests.ops.schema import mlflow_corpus as corpus


@pytest.fixture(params=DIALECTS)
def kind_and_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    with fresh_database(request.param, tmp_path) as url:
        yield request.param, url


def test_mlflow_create_all_is_in_sync_and_every_injected_drift_is_reported_exactly(
    kind_and_url: tuple[str, str], record_property: pytest.RecordProperty
) -> None:
    kind, url = kind_and_url
    corpus.create(url)
    fresh, fresh_alembic = corpus.evaluate(url, {})
    expected = corpus.inject_drift(kind, url)
    drifted, drifted_alembic = corpus.evaluate(url, expected)
    record_property("alembic", f"create_all {fresh_alembic}, drift {drifted_alembic}")
    assert fresh.false_facts == (), fresh
    assert drifted.false_facts == () and drifted.missed_facts == (), drifted
    assert drifted.true == len(expected) == (10 if kind != "sqlite" else 9)
