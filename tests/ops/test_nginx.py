"""The shipped reverse-proxy set-up (ops/nginx/scraper.conf) run by Debian's nginx in front of a
real `scraper serve`: it proxies, and refuses an oversized body itself (issue 28, item 1)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import missing_service
from tests.plugins.processes import Spawn
from tests.plugins.serve import chunked_body, connect, send_until_answered, start_server

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
    app_url, _ = start_server(spawn, tmp_path)
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
