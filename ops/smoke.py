"""`ops smoke`: the whole stack from nothing, traced, then torn down.

A temporary SQLite database (or the empty database `--database-url` names) and data
directory, `init-db`, a temporary admin token, `scraper serve` (with its worker) as a real
subprocess on a free port, `ops trace --url` against it; then the tables made in a given
database are dropped. A given database that has tables is refused: the stack's worker would
run its jobs and store their files in a directory about to be deleted.
"""

from __future__ import annotations

import os
import random
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import Engine, inspect, text

from ops.errors import OpsError, safe_url
from ops.trace import TraceCannotRun, TraceReport, trace_url
from ops.trace import render_text as render_trace
from ops.trace.cleanup import temporary_admin
from scraper.config import Settings
from scraper.errors import one_line
from scraper.migrations.manage import init_db
from scraper.models import Base
from scraper.runtime import Runtime


class SmokeRefused(OpsError):
    """The database `ops smoke` was given has tables: it builds the stack from nothing."""


@dataclass(frozen=True)
class Step:
    """One stage of the smoke test."""

    name: str
    ok: bool
    seconds: float
    detail: str


@dataclass
class SmokeReport:
    """The set-up steps, the trace, and whether every hop passed."""

    steps: list[Step] = field(default_factory=list)
    trace: TraceReport | None = None

    @property
    def ok(self) -> bool:
        steps_ok = all(step.ok for step in self.steps)
        return steps_ok and self.trace is not None and self.trace.ok

    def to_json(self) -> dict[str, Any]:
        return {
            "status": "pass" if self.ok else "fail",
            "steps": [step.__dict__ for step in self.steps],
            "trace": self.trace.to_json() if self.trace else None,
        }


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now.

    Drawn below the kernel's ephemeral range: a port the kernel hands out (to `bind(0)`, and
    as the local end of every outgoing connection) may be taken by one of those between this
    answer and the bind of the server it is for ("Address already in use").
    """
    low = _ephemeral_low()
    for _ in range(50 if low > 2048 else 0):
        port = random.randrange(max(1024, low - 12_000), low)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ephemeral_low() -> int:
    """The first port of the kernel's ephemeral range (Linux; 32768 where it cannot be read)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def scraper_command() -> list[str]:
    """The `scraper` executable of this environment."""
    script = Path(sys.executable).with_name("scraper")
    return [str(script)] if script.exists() else [sys.executable, "-m", "scraper.cli"]


def server_env(database_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a test server: its database, its data dir, 127.0.0.1 allowed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCRAPER_")}
    env.update(
        SCRAPER_DATABASE_URL=database_url,
        SCRAPER_DATA_DIR=str(data_dir),
        SCRAPER_ALLOW_PRIVATE_NETWORKS="1",
        SCRAPER_SECRET_KEY=secrets.token_hex(16),
    )
    env.update(extra)
    return env


@contextmanager
def running_server(
    env: dict[str, str], port: int, log: Path, timeout: float = 30.0
) -> Iterator[str]:
    """Run `scraper serve` on 127.0.0.1:`port` until the block ends; yield its URL."""
    command = scraper_command() + ["serve", "--host", "127.0.0.1", "--port", str(port)]
    with open(log, "ab") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process, timeout, log)
        yield url
    finally:
        stop_process(process)


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float, log: Path) -> None:
    """Wait until GET /healthz answers; raise with the server's log if it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise TraceCannotRun(f"server exited with {process.returncode}: {tail(log)}")
        try:
            if requests.get(url + "/healthz", timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise TraceCannotRun(f"server not ready after {timeout}s: {tail(log)}")


def stop_process(process: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def tail(log: Path, lines: int = 15) -> str:
    try:
        return " | ".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def smoke(
    timeout: float = 60.0, keep: bool = False, database_url: str | None = None
) -> SmokeReport:
    """Build the stack in a temporary directory (on `database_url` if given: it must be
    empty, else SmokeRefused), trace a job through it, tear it down."""
    report = SmokeReport()
    root = Path(tempfile.mkdtemp(prefix="ops-smoke-"))
    url = database_url or f"sqlite:///{root / 'scraper.db'}"
    runtime = Runtime(Settings(database_url=url, data_dir=root / "data"))
    ours = False  # whether the tables in a given database are the smoke test's own
    try:
        if database_url is not None:
            refuse_unless_empty(runtime.engine)
            ours = True
        _run(report, runtime, root, timeout)
    finally:
        if ours and not keep:
            drop_all(runtime.engine)
        runtime.close()
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    return report


def refuse_unless_empty(engine: Engine) -> None:
    """SmokeRefused unless the database has no table at all."""
    tables = inspect(engine).get_table_names()
    if tables:
        raise SmokeRefused(
            f"ops smoke builds the stack from nothing, but {safe_url(engine)} has tables "
            f"({', '.join(sorted(tables)[:5])}{', ...' if len(tables) > 5 else ''}); "
            "give it an empty database, or none (a temporary SQLite file)"
        )


def drop_all(engine: Engine) -> None:
    """Drop what the smoke test created in a database that was empty before it."""
    with engine.begin() as conn:
        Base.metadata.drop_all(conn)
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))


def _run(report: SmokeReport, runtime: Runtime, root: Path, timeout: float) -> None:
    settings = runtime.settings
    if _step(report, "init-db", lambda: _init(runtime)) is None:
        return
    with temporary_admin(runtime) as admin:
        env = server_env(settings.database_url, settings.data_dir)
        port = free_port()
        started = time.monotonic()
        try:
            with running_server(env, port, root / "server.log") as url:
                report.steps.append(Step("serve", True, _since(started), f"{url} is ready"))
                report.trace = trace_url(url, admin.token, runtime, timeout)
        except TraceCannotRun as exc:
            report.steps.append(Step("serve", False, _since(started), str(exc)))


def _init(runtime: Runtime) -> str:
    """Create every table; say so."""
    init_db(runtime.engine)
    return "tables created"


def _step(report: SmokeReport, name: str, action: Callable[[], str]) -> str | None:
    started = time.monotonic()
    try:
        result = action()
    except Exception as exc:  # the report shows why the stack could not be built
        report.steps.append(Step(name, False, _since(started), one_line(exc, kind=True)))
        return None
    report.steps.append(Step(name, True, _since(started), result))
    return result


def _since(started: float) -> float:
    return round(time.monotonic() - started, 3)


def render_text(report: SmokeReport) -> str:
    """Each step, then the trace."""
    lines = [
        f"[{'PASS' if s.ok else 'FAIL'}] {s.name:<8} {s.seconds:6.2f}s  {s.detail}"
        for s in report.steps
    ]
    if report.trace is not None:
        lines.append(render_trace(report.trace))
    lines.append("smoke: PASS" if report.ok else "smoke: FAIL")
    return "\n".join(lines)
