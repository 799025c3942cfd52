"""One job's downloads against `aria2c -j16` on the same files (not a test; prints a table).

    .venv/bin/python -m benchmarks.download                   # the issue's table: 0/20/100 ms
    .venv/bin/python -m benchmarks.download --politeness      # default limits vs their floor
    .venv/bin/python -m benchmarks.download --gallery 200     # `url` job, 200 files, defaults

A local server listens on `--hosts` loopback addresses (127.0.0.2, 127.0.0.3, ... are distinct
hosts to the per-host limiter) and answers every request after `--latency` ms. Host 127.0.0.2
serves a gallery page linking `--files` files of `--size` KiB, spread over the hosts in turn.
One job (source `url`) is submitted through the API of a real `scraper serve --no-worker` and
run by a real `scraper worker` (SQLite, a temporary data dir); its time is from the POST to the
`finished_at` the service records (its `created_at` is the POST; the worker polls for jobs every
50 ms, and the benchmark polls the job every 200 ms, outside the time measured).
aria2c then fetches the same URLs (`-j16`, one connection per file) in the same run.

The code measured is the one this file sits in: copy it into another checkout to measure that
(`cp benchmarks/download.py /tmp/old/benchmarks/ && cd /tmp/old && python -m
benchmarks.download`); every process runs with that checkout first on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
from sqlalchemy import func, select

from ops.smoke import free_port, stop_process
from scraper.accounts import create_token, create_user
from scraper.config import Settings
from scraper.models import Base, WorkerHeartbeat
from scraper.runtime import Runtime

ROOT = Path(__file__).resolve().parents[1]
FAST = {"SCRAPER_HOST_DELAY": "0", "SCRAPER_HOST_CONCURRENCY": "4", "SCRAPER_JOB_CONCURRENCY": "16"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed ACK
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        farm = self.server.farm
        host = self.server.server_address[0]
        with farm.counting(str(host)):
            time.sleep(farm.latency)
            body, kind = farm.answer(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    farm: Farm


class Farm:
    """Servers on several loopback hosts: a gallery page, its files, and a robots.txt."""

    def __init__(self, hosts: int, files: int, size: int, latency: float) -> None:
        self.latency = latency
        self.peak: dict[str, int] = {}
        self._open: dict[str, int] = {}
        self._lock = threading.Lock()
        self.servers = []
        for n in range(hosts):
            server = _Server((f"127.0.0.{2 + n}", 0), _Handler)
            server.farm = self
            threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
            self.servers.append(server)
        self.urls = [f"{self.base(i % hosts)}/f/{i}.png" for i in range(files)]
        self.bodies = {f"/f/{i}.png": _body(i, size) for i in range(files)}
        links = "".join(f'<img src="{url}">' for url in self.urls)
        self.page = f"<html><body>{links}</body></html>".encode()

    def base(self, n: int) -> str:
        host, port = self.servers[n].server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def gallery(self) -> str:
        return self.base(0) + "/gallery.html"

    def answer(self, path: str) -> tuple[bytes | None, str]:
        if path == "/gallery.html":
            return self.page, "text/html"
        if path == "/robots.txt":
            return b"User-agent: *\nAllow: /\n", "text/plain"
        return self.bodies.get(path), "image/png"

    @contextlib.contextmanager
    def counting(self, host: str) -> Iterator[None]:
        """Count the requests in progress per host, keeping the peak."""
        with self._lock:
            self._open[host] = self._open.get(host, 0) + 1
            self.peak[host] = max(self.peak.get(host, 0), self._open[host])
        try:
            yield
        finally:
            with self._lock:
                self._open[host] -= 1

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()


def _body(i: int, size: int) -> bytes:
    seed = f"file {i} ".encode()
    return (seed * (size // len(seed) + 1))[:size]


@dataclass(frozen=True)
class JobTime:
    seconds: float
    stored: int
    peak_per_host: int


def _env(root: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCRAPER_")}
    env.update(
        PYTHONPATH=str(ROOT),
        SCRAPER_DATABASE_URL=f"sqlite:///{root / 'bench.db'}",
        SCRAPER_DATA_DIR=str(root / "data"),
        SCRAPER_ALLOW_PRIVATE_NETWORKS="1",
        SCRAPER_POLL_INTERVAL="0.05",
        SCRAPER_AUTO_HEAL="off",
        SCRAPER_SECRET_KEY="bench",
    )
    env.update(extra)
    return env


def _token(env: dict[str, str]) -> str:
    settings = Settings.from_env(env)
    runtime = Runtime(settings)
    Base.metadata.create_all(runtime.engine)
    create_user(runtime.Session, "bench", "bench-password-1")
    token = create_token(runtime.Session, "bench")
    runtime.close()
    return token


@contextlib.contextmanager
def _process(args: list[str], env: dict[str, str], log: Path) -> Iterator[None]:
    with open(log, "ab") as out:
        child = subprocess.Popen(
            [sys.executable, "-m", "scraper.cli", *args],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield
    finally:
        stop_process(child)


def _wait_ready(url: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.RequestException):
            if requests.get(url + "/healthz", timeout=2).status_code < 500:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def _wait_for_worker(env: dict[str, str], timeout: float = 120.0) -> None:
    """Until the worker has recorded its heartbeat: its start-up is not the job's time."""
    runtime = Runtime(Settings.from_env(env))
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with runtime.Session() as s:
                if s.scalar(select(func.count()).select_from(WorkerHeartbeat)):
                    time.sleep(0.2)  # past its first (empty) claim
                    return
            time.sleep(0.1)
    finally:
        runtime.close()
    raise RuntimeError("the worker did not start")


def run_job(farm: Farm, files: int, extra: dict[str, str], timeout: float) -> JobTime:
    """One `url` job on the farm's gallery through the API and a worker; its wall time."""
    with tempfile.TemporaryDirectory(prefix="bench-dl-") as tmp:
        root = Path(tmp)
        env = _env(root, extra)
        token = _token(env)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        serve = ["serve", "--no-worker", "--host", "127.0.0.1", "--port", str(port)]
        with (
            _process(serve, env, root / "serve.log"),
            _process(["worker", "--concurrency", "1"], env, root / "worker.log"),
        ):
            _wait_ready(url)
            _wait_for_worker(env)
            farm.peak.clear()
            return _submit_and_wait(url, token, farm, files, timeout)


def _submit_and_wait(url: str, token: str, farm: Farm, files: int, timeout: float) -> JobTime:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    body = {"query": farm.gallery, "max_content": files, "enabled_sources": ["url"]}
    started = time.monotonic()
    created = session.post(url + "/api/comprehensive-search", json=body, timeout=10)
    created.raise_for_status()
    job_id = created.json()["job_id"]
    while time.monotonic() - started < timeout:
        job = session.get(f"{url}/api/job-progress/{job_id}", timeout=10).json()
        if job["status"] in ("completed", "failed", "cancelled"):
            if job["status"] != "completed":
                raise RuntimeError(f"job {job['status']}: {job.get('error')}")
            # The service's own clock, so the poll's interval (and CPU) stays out of it.
            took = _parse(job["finished_at"]) - _parse(job["created_at"])
            return JobTime(took.total_seconds(), job["downloaded"], max(farm.peak.values()))
        time.sleep(0.2)
    raise RuntimeError(f"job not done after {timeout}s")


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


def run_aria2(farm: Farm) -> float:
    """aria2c -j16 on the farm's file URLs (after the gallery page, as a job reads it)."""
    with tempfile.TemporaryDirectory(prefix="bench-aria2-") as tmp:
        listing = Path(tmp) / "urls.txt"
        listing.write_text("\n".join(farm.urls) + "\n")
        command = [
            "aria2c", "-j16", "-x1", "-s1", "-q", "--dir", tmp, "-i", str(listing),
            "--allow-overwrite=true", "--auto-file-renaming=false", "--summary-interval=0",
        ]  # fmt: skip
        started = time.monotonic()
        requests.get(farm.gallery, timeout=10).raise_for_status()
        subprocess.run(command, check=True, timeout=600)
        return time.monotonic() - started


def issue_table(args: argparse.Namespace) -> None:
    """The issue's table: job vs aria2c at several latencies, hosts unthrottled."""
    print(f"{args.files} files of {args.size} KiB over {args.hosts} hosts; worker env {FAST}")
    print("| latency | job s | aria2c -j16 s | job speed / aria2c | stored | peak conns/host |")
    print("|---:|---:|---:|---:|---:|---:|")
    for latency in args.latency:
        farm = Farm(args.hosts, args.files, args.size * 1024, latency / 1000)
        try:
            job = run_job(farm, args.files, FAST, args.timeout)
            aria = run_aria2(farm)
        finally:
            farm.close()
        print(
            f"| {latency:g} ms | {job.seconds:.2f} | {aria:.2f} | {aria / job.seconds:.2f} "
            f"| {job.stored} | {job.peak_per_host} |",
            flush=True,
        )


def politeness(args: argparse.Namespace, files: int) -> None:
    """A job under the default limits, against the floor those limits set."""
    settings = Settings()
    per_host = -(-files // args.hosts)
    floor = per_host * settings.host_delay
    print(
        f"{files} files of {args.size} KiB over {args.hosts} hosts, default limits "
        f"(SCRAPER_HOST_DELAY={settings.host_delay:g}, SCRAPER_HOST_CONCURRENCY="
        f"{settings.host_concurrency}, SCRAPER_JOB_CONCURRENCY="
        f"{getattr(settings, 'job_concurrency', 1)})"
    )
    print("| latency | job s | floor: files/host x delay | floor / job | stored | peak/host |")
    print("|---:|---:|---:|---:|---:|---:|")
    for latency in args.latency:
        farm = Farm(args.hosts, files, args.size * 1024, latency / 1000)
        try:
            job = run_job(farm, files, {}, args.timeout)
        finally:
            farm.close()
        print(
            f"| {latency:g} ms | {job.seconds:.2f} | {floor:.2f} | {floor / job.seconds:.2f} "
            f"| {job.stored} | {job.peak_per_host} |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--size", type=int, default=200, help="KiB per file")
    parser.add_argument("--hosts", type=int, default=4, choices=range(1, 11))
    parser.add_argument("--latency", type=float, nargs="+", default=[0, 20, 100], help="ms")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--politeness", action="store_true", help="default limits vs floor")
    parser.add_argument("--gallery", type=int, metavar="N", help="default limits, N files")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the children on the way out
    if shutil.which("aria2c") is None and not (args.politeness or args.gallery):
        sys.exit("aria2c is not installed (Debian: aria2)")
    if args.gallery:
        politeness(args, args.gallery)
    elif args.politeness:
        politeness(args, args.files)
    else:
        issue_table(args)


if __name__ == "__main__":
    main()
