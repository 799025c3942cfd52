"""The red team's probes of issue 28 against a real `scraper serve`; not a test, prints numbers.

    .venv/bin/python -m benchmarks.red_team                     # a temporary SQLite database
    .venv/bin/python -m benchmarks.red_team --database-url postgresql+psycopg://…/empty_db

One `scraper serve --no-worker` (its defaults, no nginx in front) with TMPDIR of its own, then:

- slow clients: `--sockets` connections each holding a request half sent, while `/healthz` is
  timed every 0.1 s for `--seconds`;
- large bodies: an anonymous 100 MiB POST, chunked and with `Content-Length`: the answer, the
  bytes the server let in before it, and what its temp dir grew by;
- client mistakes: the red team's parameters (NUL, far instants, huge page numbers, JSON nested
  5,000 deep) and their statuses (any 5xx is a defect);
- sign-in lockout: a stranger fails 5 times on the user's name from 127.0.0.2; the stranger's
  next try and the user's, from 127.0.0.3.

Sockets come from chosen loopback addresses with `tests.plugins.serve.from_address`.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import requests

from ops.smoke import free_port, scraper_command, server_env, stop_process, wait_ready
from scraper.accounts import create_token, create_user
from scraper.config import Settings
from scraper.models import Base
from scraper.runtime import Runtime
from tests.plugins.serve import chunked_body, from_address, plain_body, send_until_answered

MiB = 1024 * 1024
PASSWORD = "the right horse"
MISTAKES = [
    "/api/jobs?q=%00",
    "/api/jobs?since=9999-12-31T23:59:59-14:00",
    "/api/jobs?until=0001-01-01T00:00:00%2B14:00",
    "/api/jobs?page=100000000000000000000",
    "/api/jobs?limit=100000000000000000000",
    "/api/stats?window=%00",
]


def du(path: Path) -> int:
    """Bytes of the files under `path`."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def timed(url: str) -> float:
    start = time.monotonic()
    requests.get(url, timeout=60)
    return time.monotonic() - start


def slow_clients(base: str, sockets: int, seconds: float) -> None:
    host, port = base.removeprefix("http://").split(":")
    held = []
    for _ in range(sockets):
        sock = socket.create_connection((host, int(port)), timeout=5)
        sock.sendall(b"POST /api/comprehensive-search HTTP/1.1\r\nHost: x\r\nContent-Le")
        held.append(sock)
    samples, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        samples.append(timed(f"{base}/healthz"))
        time.sleep(0.1)
    for sock in held:
        sock.close()
    ms = sorted(s * 1000 for s in samples)
    print(
        f"slow clients: {sockets} half-sent sockets, /healthz x{len(ms)}: "
        f"median {statistics.median(ms):.0f} ms, max {ms[-1]:.0f} ms"
    )


def large_bodies(base: str, tmpdir: Path) -> None:
    before = du(tmpdir)
    heads = {
        "chunked": b"Transfer-Encoding: chunked\r\n",
        "sized": f"Content-Length: {100 * MiB}\r\n".encode(),
    }
    for name, header in heads.items():
        head = b"POST /api/comprehensive-search HTTP/1.1\r\nHost: x\r\n" + header + b"\r\n"
        body = chunked_body(100 * MiB) if name == "chunked" else plain_body(100 * MiB)
        host, port = base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            answer, sent = send_until_answered(sock, head, body)
        status = answer.split(b"\r\n", 1)[0].decode(errors="replace")
        print(f"100 MiB POST ({name}): {status!r}, {sent / MiB:.2f} MiB sent before it came")
    print(f"server temp dir grew by {(du(tmpdir) - before) / MiB:.2f} MiB")


def mistakes(base: str, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    for path in MISTAKES:
        print(f"  {requests.get(base + path, headers=headers, timeout=30).status_code}  {path}")
    nested = '{"action": "retry", "job_ids": ' + "[" * 5000 + "]" * 5000 + "}"
    bulk = requests.post(
        f"{base}/api/jobs/bulk",
        data=nested,
        headers=headers | {"Content-Type": "application/json"},
        timeout=30,
    )
    print(f"  {bulk.status_code}  POST /api/jobs/bulk, JSON nested 5,000 deep")


def sign_in(base: str, address: str, password: str) -> int:
    session = from_address(address)
    page = session.get(f"{base}/login", timeout=10).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    form = {"csrf_token": token.group(1), "username": "victim", "password": password}
    return session.post(f"{base}/login", data=form, allow_redirects=False, timeout=10).status_code


def lockout(base: str) -> None:
    tries = [sign_in(base, "127.0.0.2", f"guess {i}") for i in range(5)]
    stranger = sign_in(base, "127.0.0.2", "guess 6")
    user = sign_in(base, "127.0.0.3", PASSWORD)
    print(f"lockout: stranger's 5 guesses {tries}, 6th {stranger}; the user elsewhere {user}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="an empty database (default: SQLite in a temp dir)")
    parser.add_argument("--sockets", type=int, default=150)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="red-team-") as tmp:
        workdir = Path(tmp)
        url = args.database_url or f"sqlite:///{workdir / 'red.db'}"
        runtime = Runtime(Settings(database_url=url, data_dir=workdir / "data"))
        Base.metadata.create_all(runtime.engine)
        create_user(runtime.Session, "victim", PASSWORD)
        token = create_token(runtime.Session, "victim")
        runtime.close()
        (workdir / "tmp").mkdir()
        port = free_port()
        env = server_env(
            url, workdir / "data", SCRAPER_AUTO_HEAL="off", TMPDIR=str(workdir / "tmp")
        )
        log = workdir / "serve.log"
        command = [*scraper_command(), "serve", "--no-worker", "--port", str(port)]
        with open(log, "ab") as out:
            server = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_ready(base, server, 60, log)
            slow_clients(base, args.sockets, args.seconds)
            large_bodies(base, workdir / "tmp")
            print("client mistakes (status, request):")
            mistakes(base, token)
            lockout(base)
        finally:
            stop_process(server)
        print(json.dumps({"database": url.split(":", 1)[0]}))


if __name__ == "__main__":
    main()
