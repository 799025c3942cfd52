"""A probe is answered while every one of waitress's threads is held by a slow request."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from scraper.web.lanes import Lanes, is_cheap
from tests.plugins.waitress_thread import waitress_in_thread

THREADS = 2


class Blocking:
    """A WSGI app whose `/slow` waits for `release`; anything else answers at once."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.inside = threading.Semaphore(0)

    def __call__(self, environ: dict[str, Any], start: Callable[..., Any]) -> Iterable[bytes]:
        if environ["PATH_INFO"] == "/slow":
            self.inside.release()
            self.release.wait(30)
        start("200 OK", [("Content-Type", "text/plain")])
        return [environ["PATH_INFO"].encode()]


@pytest.fixture
def served() -> Iterator[tuple[str, Blocking]]:
    app = Blocking()
    with waitress_in_thread(app, _dispatcher=Lanes(THREADS)) as server:
        try:
            yield f"http://127.0.0.1:{server.effective_port}", app
        finally:
            app.release.set()


def test_healthz_is_answered_while_every_thread_serves_a_slow_read(
    served: tuple[str, Blocking],
) -> None:
    base, app = served
    answers: list[int] = []

    def slow() -> None:
        answers.append(requests.get(f"{base}/slow", timeout=30).status_code)

    clients = [threading.Thread(target=slow) for _ in range(THREADS + 2)]  # two more queue
    for client in clients:
        client.start()
    for _ in range(THREADS):
        assert app.inside.acquire(timeout=10)  # every main thread is now held
    for path in ("/healthz", "/readyz", "/static/app.css"):
        assert requests.get(f"{base}{path}", timeout=10).text == path
    assert answers == [] and not app.release.is_set()  # the slow reads are all still waiting
    app.release.set()
    for client in clients:
        client.join(30)
    assert answers == [200] * (THREADS + 2)


class Threads:
    """A WSGI app that records which thread answered each path."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []

    def __call__(self, environ: dict[str, Any], start: Callable[..., Any]) -> Iterable[bytes]:
        self.seen.append((environ["PATH_INFO"], threading.get_ident()))
        start("429 Too Many Requests", [("Content-Type", "text/plain")])
        return [b"refused"]


def test_requests_guessed_refused_are_answered_paced_by_one_thread_of_their_own() -> None:
    """Clients that ask again at once after a 429: their requests wait `pace` each on one
    thread (not the main threads' CPU); the guess sees method, path and Authorization."""
    app, pace, clients = Threads(), 0.1, 6
    guesses: list[tuple[str, str, str]] = []

    def refused(method: str, path: str, authorization: str) -> bool:
        guesses.append((method, path, authorization))
        return path == "/refuse"

    lanes = Lanes(THREADS, refused=refused, pace=pace)
    with waitress_in_thread(app, _dispatcher=lanes) as server:
        base = f"http://127.0.0.1:{server.effective_port}"
        started = time.monotonic()
        with ThreadPoolExecutor(clients) as pool:
            done = pool.map(lambda _: requests.get(f"{base}/refuse", timeout=30), range(clients))
            assert [r.status_code for r in done] == [429] * clients
        spent = time.monotonic() - started
        requests.get(f"{base}/other", headers={"Authorization": "Bearer x"}, timeout=10)
    assert spent >= clients * pace, spent
    threads = {name for path, name in app.seen if path == "/refuse"}
    assert len(threads) == 1 and threads != {n for p, n in app.seen if p == "/other"}
    assert ("GET", "/other", "Bearer x") in guesses


def test_only_probes_and_static_files_take_the_cheap_lane() -> None:
    assert all(is_cheap(p) for p in ("/healthz", "/readyz", "/static/app.js"))
    assert not any(is_cheap(p) for p in ("/", "/api/dashboard", "/metrics", "/api/jobs"))
