"""`scraper reset-password` and `scraper serve`'s start-up: bind first, data dir, warnings."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from ops.smoke import scraper_command
from scraper.accounts import authenticate, create_user
from scraper.accounts.sessions import open_session, session_is_open
from scraper.cli import main
from scraper.models import Base
from scraper.runtime import Runtime
from tests.conftest import sqlite_only

pytestmark = sqlite_only


def test_reset_password_prints_a_new_one_and_signs_the_user_out(runtime: Runtime) -> None:
    account = create_user(runtime.Session, "carol", "old password 1")
    sid = open_session(runtime.Session, account.id)
    url = runtime.settings.database_url
    result = CliRunner().invoke(main, ["reset-password", "carol", "--database-url", url])
    assert result.exit_code == 0, result.output
    new = result.stdout.strip()
    assert len(new) >= 12 and authenticate(runtime.Session, "carol", new) is not None
    assert authenticate(runtime.Session, "carol", "old password 1") is None
    assert not session_is_open(runtime.Session, account.id, sid)
    given = ["reset-password", "carol", "--password", "chosen pass", "--database-url", url]
    result = CliRunner().invoke(main, given)
    assert result.exit_code == 0 and result.stdout == ""
    assert authenticate(runtime.Session, "carol", "chosen pass") is not None
    unknown = CliRunner().invoke(main, ["reset-password", "nobody", "--database-url", url])
    assert unknown.exit_code == 1 and "no user named" in unknown.output


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCRAPER_")}
    return env | {"SCRAPER_DATA_DIR": str(tmp_path / "new" / "data")} | extra


def test_serve_on_a_busy_port_fails_before_printing_a_login(
    runtime: Runtime, tmp_path: Path
) -> None:
    Base.metadata.create_all(runtime.engine)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        url = runtime.settings.database_url
        done = subprocess.run(
            [*scraper_command(), "serve", "--port", port, "--no-worker", "--database-url", url],
            env=_env(tmp_path), capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert done.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr and "PORT=" in done.stderr
    assert "admin login" not in done.stderr and "Serving on" not in done.stderr


@pytest.mark.slow
def test_serve_creates_its_data_dir_and_warns_about_unsafe_settings(
    runtime: Runtime, tmp_path: Path
) -> None:
    Base.metadata.create_all(runtime.engine)
    env = _env(tmp_path, SCRAPER_ALLOW_PRIVATE_NETWORKS="1")
    cmd = [*scraper_command(), "serve", "--port", "0", "--no-worker"]
    cmd += ["--database-url", runtime.settings.database_url]
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, env=env, stderr=out, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while "Serving on" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(20)
    text = log.read_text()
    assert "Serving on http://127.0.0.1:" in text and ":0 " not in text
    assert "SCRAPER_SECRET_KEY is the built-in development value" in text
    assert "SCRAPER_ALLOW_PRIVATE_NETWORKS is on" in text
    assert (tmp_path / "new" / "data").is_dir()
    assert text.index("SCRAPER_SECRET_KEY") < text.index("Serving on")
