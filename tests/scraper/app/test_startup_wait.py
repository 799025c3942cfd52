"""At start-up a worker waits for a database that is not up yet, with bounded
backoff and one log line per try, and exits with status 2 when it never answers."""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from sqlalchemy import make_url

from ops.smoke import free_port
from tests.conftest import fresh_database
from tests.plugins.processes import Spawn, scraper_env, wait_until


def _pump(source: socket.socket, target: socket.socket) -> None:
    with suppress(OSError):
        while data := source.recv(65536):
            target.sendall(data)
    with suppress(OSError):
        target.shutdown(socket.SHUT_WR)


@contextmanager
def forwarding(port: int, to: tuple[str, int]) -> Iterator[None]:
    """Listen on 127.0.0.1:`port` from now on, relaying each connection to `to`."""
    server = socket.create_server(("127.0.0.1", port))
    server.settimeout(0.2)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                client, _ = server.accept()
            except TimeoutError:
                continue
            upstream = socket.create_connection(to)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(a, b), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)
        server.close()


def _log(process: object) -> str:
    return Path(process.log_path).read_text()  # type: ignore[attr-defined]


@pytest.mark.slow
def test_a_worker_waits_for_a_late_database_and_gives_up_on_one_that_never_answers(
    spawn: Spawn, tmp_path: Path
) -> None:
    never = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test"
    env = scraper_env(never, tmp_path / "never", SCRAPER_DB_STARTUP_WAIT="1")
    gives_up = spawn("worker", env=env, log_name="never")
    with fresh_database("postgresql", tmp_path, "initialized") as url:
        real = make_url(url)
        late = real.set(port=free_port())  # nothing listens there yet
        env = scraper_env(late.render_as_string(hide_password=False), tmp_path / "data")
        worker = spawn("worker", env=env | {"SCRAPER_DB_STARTUP_WAIT": "30"}, log_name="late")
        wait_until(lambda: "not reachable (attempt 2" in _log(worker), 20, "two failed tries")
        assert worker.poll() is None  # still waiting, not gone
        with forwarding(int(late.port or 0), (real.host or "127.0.0.1", int(real.port or 5432))):
            wait_until(lambda: "started with" in _log(worker), 30, "the worker to start")
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(timeout=30) == 0
    log = _log(worker)
    assert "trying again in 0.5 s" in log and "trying again in 1.0 s" in log  # backoff
    assert "answered after" in log
    assert gives_up.wait(timeout=30) == 2
    log = _log(gives_up)
    assert "not reachable (attempt 1" in log
    assert "did not answer within SCRAPER_DB_STARTUP_WAIT=1 s (2 attempts)" in log
    assert "Traceback" not in log
