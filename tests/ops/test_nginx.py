"""The shipped reverse-proxy set-up (ops/nginx/scraper.conf) run by Debian's nginx in front of a
real `scraper serve`: it proxies, refuses an oversized body itself (issue 28, item 1), and the app
behind it, trusting only the proxy's `X-Forwarded-For`, throttles sign-ins per client address
(item 6)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import missing_service
from tests.plugins.processes import Spawn, scraper_env
from tests.plugins.serve import (
    chunked_body,
    connect,
    from_address,
    send_until_answered,
    start_server,
)

CONFIG = Path(__file__).resolve().parents[2] / "ops" / "nginx" / "scraper.conf"
MiB = 1024 * 1024

WRAPPER = """
{user}
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 256; }}
http {{
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {tmp}/scraper.conf;
}}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _nginx_binary() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    if found is None:
        missing_service("nginx is not installed (Debian package nginx)")
    assert found is not None
    return found


@pytest.fixture
def proxied(spawn: Spawn, tmp_path: Path) -> Iterator[str]:
    """nginx with the shipped config (its two addresses replaced) in front of `scraper serve`."""
    nginx = _nginx_binary()
    # The documented set-up: the app believes X-Forwarded-For from the proxy's address only.
    app_url, _ = start_server(spawn, tmp_path, SCRAPER_WEB_TRUSTED_PROXY="127.0.0.1")
    port = _free_port()
    conf_dir = tmp_path / "nginx"
    conf_dir.mkdir()
    shipped = CONFIG.read_text()
    assert "server 127.0.0.1:8000;" in shipped and "listen 80;" in shipped
    site = shipped.replace("server 127.0.0.1:8000;", f"server {app_url.removeprefix('http://')};")
    (conf_dir / "scraper.conf").write_text(site.replace("listen 80;", f"listen 127.0.0.1:{port};"))
    user = "user root;" if os.geteuid() == 0 else ""
    (conf_dir / "nginx.conf").write_text(WRAPPER.format(tmp=conf_dir, user=user))
    command = [nginx, "-p", str(conf_dir), "-c", str(conf_dir / "nginx.conf"), "-e", "stderr"]
    subprocess.run([*command, "-t"], check=True, capture_output=True)
    process = subprocess.Popen([*command, "-g", "daemon off;"], stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(url, process)
        yield url
    finally:
        process.send_signal(signal.SIGQUIT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _wait_for(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"nginx exited: {process.stderr.read() if process.stderr else ''}")
        try:
            requests.get(f"{url}/healthz", timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise AssertionError("nginx did not answer")


@pytest.mark.slow
def test_nginx_with_the_shipped_config_proxies_and_refuses_an_oversized_body(
    proxied: str,
) -> None:
    health = requests.get(f"{proxied}/healthz", timeout=5)
    assert health.status_code == 200
    assert health.headers["Content-Type"].startswith("application/health+json")
    assert health.json()["status"] in ("pass", "warn")
    search = f"{proxied}/api/comprehensive-search"
    assert requests.post(search, json={"query": "cats"}, timeout=5).status_code == 401
    sized = requests.post(search, data=b"x" * MiB, timeout=10)
    assert sized.status_code == 413 and "nginx" in sized.text
    head = (
        b"POST /api/comprehensive-search HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    with connect(proxied) as sock:
        answer, sent = send_until_answered(sock, head, chunked_body(100 * MiB))
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < 10 * MiB
    assert requests.get(f"{proxied}/healthz", timeout=5).status_code == 200


def _client(url: str, address: str) -> tuple[requests.Session, dict[str, str]]:
    """A client at `address` holding a session cookie and its CSRF token; the form is fetched
    from another address, so nginx's /login rate counts only the sign-ins."""
    fetcher = from_address("127.0.0.9")
    page = fetcher.get(f"{url}/login", timeout=5).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    client = from_address(address)
    client.cookies.update(fetcher.cookies)
    return client, {"csrf_token": token.group(1), "username": "alice"}


def _sign_in(client: tuple[requests.Session, dict[str, str]], url: str, password: str) -> int:
    session, form = client
    # A made-up X-Forwarded-For: nginx keeps it, but it is not the hop the app believes.
    headers = {"X-Forwarded-For": f"203.0.113.{len(password)}"}
    answer = session.post(
        f"{url}/login",
        data=form | {"password": password},
        headers=headers,
        timeout=5,
        allow_redirects=False,
    )
    if answer.status_code == 429:
        assert "Too many failed sign-ins" in answer.text  # the app's, not nginx's
        assert int(answer.headers["Retry-After"]) > 0
    return answer.status_code


@pytest.mark.slow
def test_behind_nginx_a_guesser_is_throttled_by_its_own_address_and_the_user_still_signs_in(
    proxied: str, tmp_path: Path
) -> None:
    database_url = f"sqlite:///{tmp_path / 'serve.db'}"
    subprocess.run(
        [sys.executable, "-m", "scraper.cli", "create-user", "alice", "--password", "right horse"]
        + ["--database-url", database_url],
        env=scraper_env(database_url, tmp_path / "data"),
        check=True,
        capture_output=True,
    )
    guesser, user = _client(proxied, "127.0.0.2"), _client(proxied, "127.0.0.3")
    # Five wrong passwords and the right one: within nginx's /login burst (6), so the app
    # is what refuses the sixth.
    tries = [_sign_in(guesser, proxied, f"guess {i}") for i in range(5)]
    assert tries + [_sign_in(guesser, proxied, "right horse")] == [401] * 5 + [429]
    assert _sign_in(user, proxied, "right horse") == 302
