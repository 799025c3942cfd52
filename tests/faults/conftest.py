"""Fault-test helpers: a `scraper serve` subprocess with a user's API session, a small disk."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from ops.smoke import free_port, wait_ready
from scraper.accounts import create_token, create_user
from scraper.runtime import Runtime
from tests.plugins.processes import Spawn
from tests.plugins.tmpfs import mounted_tmpfs

TMPFS_BYTES = 2 * 1024 * 1024


@pytest.fixture
def small_data_dir(data_dir: Path) -> Iterator[Path]:
    """`data_dir` on a 2 MiB tmpfs; always unmounted afterwards."""
    with mounted_tmpfs(data_dir, TMPFS_BYTES) as mounted:
        yield mounted


@dataclass
class Served:
    """A running `scraper serve`: its process, base URL and log."""

    process: subprocess.Popen[bytes]
    url: str

    @property
    def log(self) -> str:
        return Path(self.process.log_path).read_text()  # type: ignore[attr-defined]

    def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown code runs."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


Serve = Callable[..., Served]


@pytest.fixture
def serve(spawn: Spawn) -> Serve:
    """`serve(env, *args)`: start `scraper serve` on a free port and wait for /healthz."""

    def start(env: dict[str, str], *args: str) -> Served:
        port = free_port()
        process = spawn("serve", "--port", str(port), *args, env=env, log_name="serve")
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, process, 60, process.log_path)  # type: ignore[attr-defined]
        return Served(process, url)

    return start


def api_session(runtime: Runtime, name: str = "faulty") -> requests.Session:
    """A requests session authenticated as a new admin user with a bearer token."""
    create_user(runtime.Session, name, "fault-password", admin=True)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {create_token(runtime.Session, name)}"
    return session
