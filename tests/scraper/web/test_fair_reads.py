"""Fair sharing of the expensive reads (issue 28, item 2): one user's reads beyond
`SCRAPER_WEB_USER_READS` answer 429 at once, everyone's beyond `SCRAPER_WEB_READS` 503, each
with `Retry-After` and the limit named; other users and `/healthz` stay served."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from flask import Flask
from sqlalchemy import create_engine, text

from scraper.runtime import Runtime
from scraper.web.fairness import ReadSlots, slots
from scraper.web.refusals import likely_refused
from tests.conftest import servers_only, sqlite_only
from tests.plugins.processes import Spawn
from tests.plugins.serve import start_server
from tests.plugins.web import WebUsers, make_app, make_users, run_all, submit

EXPENSIVE = ["/api/jobs?q=a", "/api/stats?window=7d", "/api/assets"]


def _slots(app: Flask) -> ReadSlots:
    with app.app_context():
        return slots()


@sqlite_only
def test_reads_over_a_users_limit_are_429_and_over_the_global_one_503(runtime: Runtime) -> None:
    app = make_app(runtime)
    users, client = make_users(runtime), app.test_client()
    reads = _slots(app)
    for _ in range(runtime.settings.web_user_reads):  # alice's reads in flight elsewhere
        reads.acquire(users.a.id)
    for path in EXPENSIVE:
        busy = client.get(path, headers=users.a.headers)
        assert busy.status_code == 429, (path, busy.get_json())
        assert busy.headers["Retry-After"] == "1"
        assert busy.get_json()["error"] == "too_many_requests"
        assert busy.get_json()["limit"] == "SCRAPER_WEB_USER_READS"
        assert client.get(path, headers=users.b.headers).status_code == 200, "bob is served"
        assert client.get("/api/sources", headers=users.a.headers).status_code == 200
    page = client.get("/jobs", headers=users.a.headers)
    assert page.status_code == 429 and b"SCRAPER_WEB_USER_READS" in page.data
    reads.acquire(users.admin.id)  # the global limit (3) is reached
    full = client.get("/api/jobs", headers=users.b.headers)
    assert full.status_code == 503 and full.headers["Retry-After"] == "1"
    assert full.get_json()["error"] == "server_busy"
    assert full.get_json()["limit"] == "SCRAPER_WEB_READS"
    assert reads.running() == 3, "a refused read takes no slot"
    for user in (users.a.id, users.a.id, users.admin.id):
        reads.release(user)
    assert client.get("/api/jobs", headers=users.a.headers).status_code == 200
    assert reads.running() == 0, "a finished read gives its slot back"


@sqlite_only
def test_the_refusal_lanes_guess_agrees_with_the_app(runtime: Runtime) -> None:
    """`likely_refused` (what `scraper serve` sends to its paced refusal lane): an expensive
    read by a token the app confirmed recently whose user holds every slot; the app then
    answers it 429. Anything else (a cheap view, an unknown token, a free slot) is not."""
    app = make_app(runtime)
    users, client = make_users(runtime), app.test_client()
    reads, bearer = _slots(app), users.a.headers["Authorization"]

    def guess(path: str, method: str = "GET", authorization: str = bearer) -> bool:
        return likely_refused(app, method, path, authorization)

    for _ in range(runtime.settings.web_user_reads):
        reads.acquire(users.a.id)
    assert not guess("/api/jobs"), "a token the app has not confirmed yet"
    assert client.get("/api/sources", headers=users.a.headers).status_code == 200
    for path in EXPENSIVE:
        assert guess(path.split("?")[0]), path
        assert client.get(path, headers=users.a.headers).status_code == 429
    assert not guess("/api/sources") and not guess("/api/nowhere") and not guess("/")
    assert not guess("/api/jobs", authorization="Bearer not-a-token")
    assert not guess("/api/jobs", authorization=users.b.headers["Authorization"])
    for _ in range(runtime.settings.web_user_reads):
        reads.release(users.a.id)
    assert (
        not guess("/api/jobs")
        and client.get("/api/jobs", headers=users.a.headers).status_code == 200
    )


@sqlite_only
def test_a_streamed_archive_holds_its_slot_until_it_is_read(runtime: Runtime) -> None:
    app = make_app(runtime)
    users, client = make_users(runtime), app.test_client()
    job_id = submit(client, users.a, "herons", 2)
    run_all(runtime)
    reads = _slots(app)
    response = client.get(f"/api/jobs/{job_id}/archive", headers=users.a.headers, buffered=False)
    assert response.status_code == 200 and reads.running(users.a.id) == 1
    b"".join(response.response)  # type: ignore[arg-type]
    response.close()
    assert reads.running(users.a.id) == 0


# -- a real server ---------------------------------------------------------------------------


@contextlib.contextmanager
def held_table_lock(db_url: str) -> Iterator[Callable[[], int]]:
    """Hold an exclusive lock on scrape_jobs: every job read waits. Yields a count of the
    sessions waiting for it (how many reads are in flight in the server)."""
    engine = create_engine(db_url)
    waiting = text(
        "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'scrape_jobs'::regclass"
    )
    with engine.connect() as holder, engine.connect() as watcher:
        holder.execute(text("LOCK TABLE scrape_jobs IN ACCESS EXCLUSIVE MODE"))
        try:
            yield lambda: int(watcher.execute(waiting).scalar_one())
        finally:
            holder.rollback()
    engine.dispose()


def _get(url: str, users: WebUsers, who: str, path: str) -> requests.Response:
    return requests.get(f"{url}{path}", headers=users[who].headers, timeout=30)


def _until(predicate: Callable[[], bool], what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


@pytest.mark.slow
@pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_one_users_eight_concurrent_reads_leave_others_served_on_a_real_server(
    runtime: Runtime, db_url: str, spawn: Spawn, tmp_path: Path
) -> None:
    """Alice's 8 concurrent job searches wait on a held table lock: 2 take slots, 6 are 429 at
    once; bob still gets the third slot, then a read is 503; `/healthz` answers throughout."""
    users = make_users(runtime)
    timeouts = {"SCRAPER_DB_LOCK_TIMEOUT": "30", "SCRAPER_WEB_STATEMENT_TIMEOUT": "30"}
    # The lock's waiters are counted to know which reads are in flight: the server's own
    # background work (the self-healer's write probe, the schedules' look) must not join them.
    quiet = {
        "SCRAPER_AUTO_HEAL": "off",
        "SCRAPER_RECONCILE_INTERVAL": "3600",
        "SCRAPER_SCHEDULE_INTERVAL": "3600",
    }
    url, _ = start_server(spawn, tmp_path, db_url, **timeouts, **quiet)
    assert _get(url, users, "a", "/api/jobs").status_code == 200
    runtime.engine.dispose()  # no session of the test process holds scrape_jobs open
    with ThreadPoolExecutor(max_workers=10) as pool, held_table_lock(db_url) as waiting:
        started = time.monotonic()
        alice = [pool.submit(_get, url, users, "a", "/api/jobs?q=%25_%25_") for _ in range(8)]
        _until(lambda: sum(f.done() for f in alice) == 6, "6 of alice's reads answered")
        assert time.monotonic() - started < 5, "the refusals waited for a slot"
        refused = [f.result() for f in alice if f.done()]
        assert [r.status_code for r in refused] == [429] * 6
        assert all(r.headers["Retry-After"] == "1" for r in refused)
        assert {r.json()["limit"] for r in refused} == {"SCRAPER_WEB_USER_READS"}
        _until(lambda: waiting() == 2, "alice's 2 reads wait on the lock")
        bob = pool.submit(_get, url, users, "b", "/api/jobs")
        _until(lambda: waiting() == 3, "bob's read waits on the lock")
        busy = _get(url, users, "admin", "/api/stats")
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"
        assert busy.json()["error"] == "server_busy" and busy.json()["limit"] == "SCRAPER_WEB_READS"
        health = time.monotonic()
        assert requests.get(f"{url}/healthz", timeout=5).status_code in (200, 503)
        assert time.monotonic() - health < 1.5, "/healthz waited behind the reads"
        assert _get(url, users, "b", "/api/sources").status_code == 200, "cheap reads go on"
        assert not bob.done() and sum(f.done() for f in alice) == 6, "the lock still holds them"
    assert bob.result().status_code == 200
    assert sorted(f.result().status_code for f in alice) == [200] * 2 + [429] * 6
    assert _get(url, users, "a", "/api/jobs").status_code == 200, "every slot came back"


@contextlib.contextmanager
def held_row(db_url: str, job_id: str) -> Iterator[None]:
    """Another transaction holds the job's row lock (an open `SELECT … FOR UPDATE`)."""
    engine = create_engine(db_url)
    with engine.connect() as holder:
        holder.execute(
            text("SELECT id FROM scrape_jobs WHERE id = :id FOR UPDATE"), {"id": job_id}
        ).all()
        try:
            yield
        finally:
            holder.rollback()
    engine.dispose()


def _cancel(url: str, users: WebUsers, job_id: str) -> requests.Response:
    return requests.post(f"{url}/api/jobs/{job_id}/cancel", headers=users.a.headers, timeout=30)


@pytest.mark.slow
@servers_only
def test_cancels_of_a_held_row_take_slots_and_never_the_servers_threads(
    runtime: Runtime, db_url: str, spawn: Spawn, tmp_path: Path
) -> None:
    """Six cancels of a job whose row another transaction holds: two take alice's slots and
    answer 503 after the lock timeout, four are 429 at once; `/healthz` and bob go on."""
    users = make_users(runtime)
    job_id = submit(make_app(runtime).test_client(), users.a, "herons", 1)
    url, _ = start_server(spawn, tmp_path, db_url, SCRAPER_DB_LOCK_TIMEOUT="2")
    runtime.engine.dispose()
    with ThreadPoolExecutor(max_workers=8) as pool, held_row(db_url, job_id):
        started = time.monotonic()
        cancels = [pool.submit(_cancel, url, users, job_id) for _ in range(6)]
        _until(lambda: sum(f.done() for f in cancels) == 4, "4 cancels refused", timeout=1.5)
        refused = [f.result() for f in cancels if f.done()]
        assert [r.status_code for r in refused] == [429] * 4
        assert {r.json()["limit"] for r in refused} == {"SCRAPER_WEB_USER_READS"}
        health = []
        while not all(f.done() for f in cancels):
            probe = time.monotonic()
            assert requests.get(f"{url}/healthz", timeout=5).status_code in (200, 503)
            health.append(time.monotonic() - probe)
            assert _get(url, users, "b", "/api/sources").status_code == 200
            assert time.monotonic() - started < 15, "the lock timeout did not end the waits"
        waited = [f.result() for f in cancels if f.result().status_code != 429]
    assert [r.status_code for r in waited] == [503, 503], [r.text for r in waited]
    assert all(int(r.headers["Retry-After"]) > 0 for r in waited)
    assert max(health) < 1.0, f"/healthz took up to {max(health):.2f} s"
    done = _cancel(url, users, job_id)
    assert done.status_code == 200 and done.json()["status"] == "cancelled"
