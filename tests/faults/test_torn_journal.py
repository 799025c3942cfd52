"""The fallback journal is torn (a crash mid-append, a full disk), more jobs are accepted, the
service restarts: every job answered 201 is reconciled exactly once, nothing unreadable deleted.
"""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select, text

from scraper.jobs import JobRecord
from scraper.jobs import journal as jr
from scraper.models import ScrapeJob, utcnow
from scraper.runtime import Runtime
from scraper.schema import init_db
from tests.conftest import sqlite_only
from tests.faults.conftest import Serve, Served, api_session
from tests.plugins.processes import scraper_env, wait_until


def refusing_service(
    db_url: str, data_dir: Path, serve: Serve
) -> tuple[Runtime, requests.Session, dict[str, str], Served]:
    """`scraper serve` on the incident's drift (no auto-heal): every job lands in the journal."""
    runtime = Runtime.from_env(database_url=db_url, data_dir=data_dir)
    init_db(runtime.engine)
    with runtime.engine.begin() as conn:
        conn.execute(text("ALTER TABLE scrape_jobs DROP COLUMN updated_at"))
    env = scraper_env(db_url, data_dir, SCRAPER_AUTO_HEAL="off")
    return runtime, api_session(runtime), env, serve(env, "--no-worker")


def post(api: requests.Session, web: Served, n: int) -> requests.Response:
    body = {"query": f"held {n}", "max_content": 1, "enabled_sources": ["selftest"]}
    return api.post(web.url + "/api/comprehensive-search", json=body, timeout=60)


def accept(api: requests.Session, web: Served, first: int, count: int) -> list[str]:
    ids = []
    for n in range(first, first + count):
        reply = post(api, web, n)
        assert reply.status_code == 201 and reply.json()["storage"] == "fallback", reply.text
        ids.append(reply.json()["job_id"])
    return ids


def tear(journal: Path) -> bytes:
    """Half a record of a job nobody was told about: what a crash mid-append leaves."""
    now = utcnow()
    ghost = JobRecord("ghost", "never acknowledged", 1, True, ["selftest"], created_at=now)
    fragment = jr.encode({"op": "put", "job": ghost.to_json()})[:101]
    with open(journal, "ab") as handle:
        handle.write(fragment)
    return fragment


def rows(runtime: Runtime) -> dict[str, int]:
    with runtime.Session() as s:
        found = s.execute(select(ScrapeJob.id, func.count()).group_by(ScrapeJob.id)).all()
    return {job_id: count for job_id, count in found}


def report(fault: str, runtime: Runtime, accepted: list[str], found: dict[str, int]) -> None:
    """One row of the fault table (shown with `pytest -s`)."""
    print(
        f"\n{fault}, {runtime.engine.dialect.name}: {len(accepted)} answered 201, "
        f"{len(set(accepted) & set(found))} found, {sum(found.values()) - len(found)} duplicates"
    )


def heal_and_reconcile(runtime: Runtime, serve: Serve, env: dict[str, str]) -> Served:
    """Restart with the start-up repair on: the schema heals and the journal is reconciled."""
    web = serve(dict(env, SCRAPER_AUTO_HEAL="safe"), "--no-worker")
    wait_until(lambda: not runtime.fallback.jobs(), 60, "the journal to be reconciled")
    return web


@pytest.mark.slow
@pytest.mark.parametrize(
    "db_url", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_a_journal_cut_mid_line_loses_no_accepted_job(
    db_url: str, serve: Serve, tmp_path: Path
) -> None:
    runtime, api, env, web = refusing_service(db_url, tmp_path / "data", serve)
    accepted = accept(api, web, 0, 3)
    web.kill()
    fragment = tear(runtime.settings.fallback_journal)

    web = serve(env, "--no-worker")  # start-up cuts the torn tail, keeps it in quarantine
    assert f"torn record ({len(fragment)} bytes" in web.log, web.log
    accepted += accept(api, web, 3, 3)
    web.kill()
    web = heal_and_reconcile(runtime, serve, env)

    found = rows(runtime)
    report("torn journal", runtime, accepted, found)
    assert set(found) == set(accepted) and set(found.values()) == {1}
    quarantine = jr.quarantine_path(runtime.settings.fallback_journal).read_text()
    assert json.loads(quarantine)["line"] == fragment.decode()
    runtime.close()


def fill(directory: Path) -> Path:
    """Write a file until the disk is full; return it (deleting it gives the space back)."""
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


@pytest.mark.slow
@sqlite_only
def test_a_full_journal_disk_answers_503_and_loses_no_accepted_job(
    db_url: str, serve: Serve, small_data_dir: Path
) -> None:
    # The database lives outside the small disk: only the journal runs out of space.
    runtime, api, env, web = refusing_service(db_url, small_data_dir, serve)
    accepted = accept(api, web, 0, 2)
    filler = fill(small_data_dir)

    refused, n = [], 2
    while len(refused) < 3:  # records fit in the journal's last page until one does not
        reply = post(api, web, n)
        n += 1
        if reply.status_code == 201:
            accepted.append(reply.json()["job_id"])
        else:
            refused.append(reply)
        assert n < 200, "the disk never filled"
    for reply in refused:
        assert reply.status_code == 503, reply.text
        assert reply.json()["error"] == "journal_unavailable"
        assert "ENOSPC" in reply.json()["message"], reply.json()
    scan = jr.scan(runtime.settings.fallback_journal)
    assert not scan.bad and not scan.torn_tail, "a failed append left a partial record"

    filler.unlink()
    accepted += accept(api, web, n, 2)
    web.kill()
    web = heal_and_reconcile(runtime, serve, env)
    found = rows(runtime)
    report(f"full disk ({len(refused)} answered 503)", runtime, accepted, found)
    assert set(found) == set(accepted) and set(found.values()) == {1}
    runtime.close()
