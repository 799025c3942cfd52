"""A query PostgreSQL can never store (a NUL character) is a 400 naming the field; it never
reaches the fallback store, so one request cannot take the instance out of the load balancer."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from scraper.migrations.manage import init_db
from scraper.runtime import Runtime
from tests.faults.conftest import Serve, api_session
from tests.plugins.processes import scraper_env


@pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_a_nul_query_is_400_and_readiness_is_unaffected(
    db_url: str, serve: Serve, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    runtime = Runtime.from_env(database_url=db_url, data_dir=data_dir)
    init_db(runtime.engine)
    api = api_session(runtime)
    web = serve(scraper_env(db_url, data_dir), "--no-worker")
    search = web.url + "/api/comprehensive-search"

    for query in ("cats\x00dogs", "\x00", "cats \ud800"):
        body = {"query": query, "max_content": 1, "enabled_sources": ["selftest"]}
        reply = api.post(search, json=body, timeout=30)
        assert (reply.status_code, reply.json()["field"]) == (400, "query"), reply.text
    nul_filter = api.get(web.url + "/api/assets?job_id=%00", timeout=30)
    assert (nul_filter.status_code, nul_filter.json()["field"]) == (400, "job_id")
    nul_id = api.get(web.url + "/api/job-progress/a%00b", timeout=30)  # a client mistake: 400
    assert (nul_id.status_code, nul_id.json()["error"]) == (400, "invalid_request"), nul_id.text

    assert runtime.fallback.jobs() == []
    ready = requests.get(web.url + "/readyz", timeout=30)
    assert ready.json()["checks"]["fallback:jobs"][0]["status"] == "pass", ready.text
    good = {"query": "cats", "max_content": 1, "enabled_sources": ["selftest"]}
    created = api.post(search, json=good, timeout=30).json()
    assert created["storage"] == "database"
    runtime.close()
