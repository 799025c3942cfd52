"""The lifecycle of `scraper serve` and `scraper worker`: what runs, in which order it starts
and stops, and what SIGTERM does.

`Service` owns the parts of one process: the HTTP server (serve), the reconciler or
self-healer, the worker, and the worker's metrics port. The click commands build one, print
what it reports, and call `run`.
"""

from __future__ import annotations

import functools
import signal
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any, Protocol

from scraper.app.bootstrap import StartupReport, prepare
from scraper.app.selfheal import SelfHealer
from scraper.errors import ScraperError
from scraper.jobs import Reconciler
from scraper.jobs.housekeeping import retention_pruner
from scraper.metrics.exporter import mark_process_dead, serve_metrics
from scraper.runtime import Runtime
from scraper.schedules import Ticking
from scraper.worker import Worker


class CannotListen(ScraperError):
    """The server could not bind its address (in use, or not allowed)."""

    def __init__(self, host: str, port: int, reason: str) -> None:
        super().__init__(f"cannot listen on {host}:{port}: {reason}")
        self.host, self.port, self.reason = host, port, reason


class Background(Protocol):
    """A part that runs in its own threads: the reconciler, the self-healer."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class Listen:
    """Where and how `serve` answers HTTP."""

    host: str = "127.0.0.1"
    port: int = 8000
    threads: int = 4


class Service:
    """One process's long-running parts, started and stopped together.

    `start` starts them in the background and installs the SIGTERM handler; `wait` blocks
    (serving HTTP, or until a stop is requested) and stops everything on the way out;
    `request_stop` is what SIGTERM does.
    """

    def __init__(
        self,
        runtime: Runtime,
        worker: Worker | None = None,
        background: Sequence[Background] = (),
        server: Any = None,
        metrics_port: int | None = None,
    ) -> None:
        self.runtime = runtime
        self.worker = worker
        self.background = background
        self.server = server
        self.metrics_port = metrics_port
        self._stopping = threading.Event()

    @classmethod
    def serve(cls, runtime: Runtime, listen: Listen, worker_concurrency: int | None) -> Service:
        """The dashboard and API on `listen`, an in-process worker unless `worker_concurrency`
        is None, the reconciler (the self-healer with SCRAPER_AUTO_HEAL=safe) and the
        schedules' ticker.

        The address is bound here: a busy port fails (CannotListen) before anything starts.
        """
        from waitress.server import create_server  # only `serve` pays for waitress and Flask

        from scraper.web import create_app
        from scraper.web.lanes import Lanes
        from scraper.web.limits import waitress_options
        from scraper.web.refusals import PACE, likely_refused

        runtime.settings.data_dir.mkdir(parents=True, exist_ok=True)
        app = create_app({"SCRAPER_RUNTIME": runtime})
        # probes never queue behind heavy reads; refusals are paced on a thread of their own
        lanes = Lanes(listen.threads, refused=functools.partial(likely_refused, app), pace=PACE)
        try:
            server = create_server(
                app,
                host=listen.host,
                port=listen.port,
                threads=listen.threads,
                ident="scraper",
                _dispatcher=lanes,
                **waitress_options(runtime.settings),  # slow and greedy clients: docs/deployment
            )
        except OSError as exc:
            lanes.shutdown()
            raise CannotListen(listen.host, listen.port, exc.strerror or str(exc)) from exc
        worker = None if worker_concurrency is None else Worker(runtime, worker_concurrency)
        settings = runtime.settings
        healer = (
            SelfHealer(runtime)
            if settings.auto_heal == "safe"
            else Reconciler(runtime.store, runtime.fallback, settings.reconcile_interval)
        )
        # the worker's housekeeping fires due schedules too; this thread covers --no-worker
        parts: list[Background] = [healer, Ticking(runtime.Session, settings)]
        pruner = retention_pruner(runtime.Session, runtime.files, settings.retention_days)
        if pruner is not None:  # SCRAPER_RETENTION_DAYS: prune old finished jobs hourly
            parts.append(pruner)
        return cls(runtime, worker, parts, server)

    @classmethod
    def standalone_worker(
        cls,
        runtime: Runtime,
        concurrency: int,
        worker_id: str | None = None,
        metrics_port: int | None = None,
    ) -> Service:
        """A worker alone, with the self-healer when SCRAPER_AUTO_HEAL=safe and its own
        metrics port if asked for."""
        runtime.pre_ping = False  # the engine is not made yet: a worker pings only after idling
        runtime.kept_connections = 1  # idle, it holds one connection (which also listens)
        healer = SelfHealer(runtime) if runtime.settings.auto_heal == "safe" else None
        worker = Worker(runtime, concurrency=concurrency, worker_id=worker_id)
        return cls(runtime, worker, (healer,) if healer else (), metrics_port=metrics_port)

    @property
    def port(self) -> int | None:
        """The port the server listens on (the one bound when 0 was asked for)."""
        return getattr(self.server, "effective_port", None)

    def prepare(self) -> StartupReport:
        """Heal the schema and reconcile held jobs once; problems are reported, not raised."""
        return prepare(self.runtime)

    def start(self) -> None:
        """Handle SIGTERM, then start the metrics port, the background thread and the worker
        (handler first: a SIGTERM right after "worker started" still stops it cleanly)."""
        signal.signal(signal.SIGTERM, self._on_sigterm)
        if self.metrics_port is not None:
            serve_metrics(self.metrics_port)
        for part in self.background:
            part.start()
        if self.worker is not None:
            self.worker.start()

    def wait(self) -> None:
        """Serve (or idle) until Ctrl+C or SIGTERM, then stop every part."""
        try:
            if self.server is not None:
                self.server.run()
            else:
                while not self._stopping.wait(0.5):
                    pass
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def run(self) -> None:
        """`start`, then `wait`."""
        self.start()
        self.wait()

    def request_stop(self) -> None:
        """Stop claiming jobs and end `wait` (the worker releases what it holds)."""
        self._stopping.set()
        if self.worker is not None:
            self.worker.request_stop()

    def stop(self) -> None:
        """Stop the background thread and the worker (waiting for their threads)."""
        for part in self.background:
            part.stop()
        if self.worker is not None:
            self.worker.stop()
        mark_process_dead()

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        if self.server is not None:
            # waitress's loop ends only by an exception in the main thread: as Ctrl+C does.
            raise KeyboardInterrupt
        self.request_stop()
