"""The `scraper` command: serve, worker, create-user, create-token (thin shells)."""

from __future__ import annotations

import signal
import sys
from types import FrameType

import click

from scraper.accounts import AccountError, create_token, create_user, ensure_admin
from scraper.bootstrap import prepare
from scraper.errors import ScraperError
from scraper.runtime import Runtime

database_url_option = click.option(
    "--database-url", envvar="SCRAPER_DATABASE_URL", help="Database URL (overrides env)."
)


def _runtime(database_url: str | None) -> Runtime:
    try:
        return Runtime.from_env(database_url=database_url)
    except ScraperError as exc:
        raise click.UsageError(str(exc)) from exc


def _setup_logging(runtime: Runtime) -> None:
    from scraper.logs import configure_logging

    configure_logging(runtime.settings.log_format)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@click.group()
def main() -> None:
    """Media scraper service."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--threads",
    default=4,
    show_default=True,
    type=click.IntRange(1, 256),
    help="waitress threads; more than ~4 only contend for the GIL (benchmarks/load.py).",
)
@click.option("--no-worker", is_flag=True, help="Do not run an in-process worker.")
@click.option("--concurrency", default=2, show_default=True, type=click.IntRange(1, 64))
@database_url_option
def serve(
    host: str, port: int, threads: int, no_worker: bool, concurrency: int, database_url: str | None
) -> None:
    """Serve the dashboard and API (waitress), with an in-process worker unless --no-worker."""
    import waitress

    from scraper.jobs import Reconciler
    from scraper.web import create_app
    from scraper.worker import Worker

    runtime = _runtime(database_url)
    _setup_logging(runtime)
    report = prepare(runtime)
    for problem in report.problems:
        click.echo(f"warning: {problem} (run `ops doctor`)", err=True)
    _announce_admin(runtime)
    app = create_app({"SCRAPER_RUNTIME": runtime})
    reconciler = Reconciler(runtime.store, runtime.fallback, runtime.settings.reconcile_interval)
    reconciler.start()
    worker = None if no_worker else Worker(runtime, concurrency=concurrency)
    if worker is not None:
        worker.start()
    signal.signal(signal.SIGTERM, _raise_interrupt)
    click.echo(f"Serving on http://{host}:{port}  (Ctrl+C to stop)", err=True)
    try:
        waitress.serve(app, host=host, port=port, threads=threads, ident="scraper")
    except KeyboardInterrupt:
        pass
    finally:
        reconciler.stop()
        if worker is not None:
            worker.stop()


def _announce_admin(runtime: Runtime) -> None:
    try:
        created = ensure_admin(runtime.Session)
    except Exception as exc:
        click.echo(f"warning: could not check for an admin user: {exc}", err=True)
        return
    if created:
        name, password = created
        click.echo(f"Created admin login: {name} / {password}  (shown once; keep it)", err=True)


@main.command()
@click.option("--concurrency", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option("--name", default=None, help="Worker id (default host:pid:random).")
@click.option(
    "--metrics-port",
    default=None,
    type=click.IntRange(0, 65535),
    help="Serve this worker's Prometheus metrics on this port (multiprocess-aware).",
)
@database_url_option
def worker(
    concurrency: int, name: str | None, metrics_port: int | None, database_url: str | None
) -> None:
    """Run a standalone worker; SIGTERM stops claiming and releases what it holds."""
    from scraper.metrics.registry import mark_process_dead, serve_metrics
    from scraper.worker import Worker

    runtime = _runtime(database_url)
    _setup_logging(runtime)
    prepare(runtime)
    if metrics_port is not None:
        serve_metrics(metrics_port)
    w = Worker(runtime, concurrency=concurrency, worker_id=name)
    signal.signal(signal.SIGTERM, lambda signum, frame: w._stop.set())
    try:
        w.run()
    except KeyboardInterrupt:
        pass
    finally:
        w.stop()
        mark_process_dead()


@main.command("create-user")
@click.argument("name")
@click.option("--admin", is_flag=True, help="Give the user the admin role.")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@database_url_option
def create_user_cmd(name: str, admin: bool, password: str, database_url: str | None) -> None:
    """Create a user (with the admin role if --admin)."""
    runtime = _runtime(database_url)
    try:
        account = create_user(runtime.Session, name, password, admin=admin)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    roles = ", ".join(sorted(account.roles))
    click.echo(f"created user {account.username} ({roles})", err=True)


@main.command("create-token")
@click.argument("name")
@click.option("--label", default="cli", show_default=True, help="What the token is for.")
@database_url_option
def create_token_cmd(name: str, label: str, database_url: str | None) -> None:
    """Create an API token for user NAME and print it alone on stdout (shown once)."""
    runtime = _runtime(database_url)
    try:
        token = create_token(runtime.Session, name, label)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(token)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
