"""`scraper serve` and `scraper worker`: start the service's processes and stop them cleanly."""

from __future__ import annotations

import click

from scraper.accounts import ensure_admin
from scraper.cli.base import database_url_option, main, runtime_for, setup_logging
from scraper.config import DEFAULT_SECRET_KEY
from scraper.errors import one_line
from scraper.runtime import Runtime


@main.command()
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: all)."
)
@click.option(
    "--port",
    default=8000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="TCP port to listen on (0: any free port, printed at start).",
)
@click.option(
    "--threads",
    default=4,
    show_default=True,
    type=click.IntRange(1, 256),
    help="Web server threads; more than ~4 only contend for the GIL (benchmarks/load.py).",
)
@click.option("--no-worker", is_flag=True, help="Do not run an in-process worker.")
@click.option(
    "--concurrency",
    default=2,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Jobs the in-process worker runs at once (downloads in flight inside one job: "
    "SCRAPER_JOB_CONCURRENCY).",
)
@database_url_option
def serve(
    host: str, port: int, threads: int, no_worker: bool, concurrency: int, database_url: str | None
) -> None:
    """Serve the dashboard and API (waitress), with an in-process worker unless --no-worker."""
    from scraper.app.lifecycle import CannotListen, Listen, Service  # loads waitress and Flask

    runtime = runtime_for(database_url)
    setup_logging(runtime)
    try:  # bind first: a busy port must fail before anything is printed or created
        service = Service.serve(
            runtime, Listen(host, port, threads), None if no_worker else concurrency
        )
    except CannotListen as exc:
        hint = " (another port: --port N, or `make run PORT=N`)" if port else ""
        raise click.ClickException(f"{exc}{hint}") from exc
    for warning in startup_warnings(runtime):
        click.echo(f"warning: {warning}", err=True)
    for problem in service.prepare().problems:
        click.echo(f"warning: {problem} (run `ops doctor`)", err=True)
    _announce_admin(runtime)
    service.start()
    click.echo(f"Serving on http://{host}:{service.port or port}  (Ctrl+C to stop)", err=True)
    service.wait()


def startup_warnings(runtime: Runtime) -> list[str]:
    """Settings that are fine on a laptop and dangerous in production."""
    found = []
    if runtime.settings.secret_key == DEFAULT_SECRET_KEY:
        found.append(
            "SCRAPER_SECRET_KEY is the built-in development value: anyone can forge a session "
            "cookie; set a long random value"
        )
    if runtime.settings.allow_private_networks:
        found.append(
            "SCRAPER_ALLOW_PRIVATE_NETWORKS is on: searches may fetch from private and "
            "loopback addresses (your internal network)"
        )
    return found


def _announce_admin(runtime: Runtime) -> None:
    try:
        created = ensure_admin(runtime.Session)
    except Exception as exc:
        click.echo(f"warning: could not check for an admin user: {one_line(exc)}", err=True)
        return
    if created:
        name, password = created
        click.echo(f"Created admin login: {name} / {password}  (shown once; keep it)", err=True)


@main.command()
@click.option(
    "--concurrency",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Jobs this worker runs at once (downloads in flight inside one job: "
    "SCRAPER_JOB_CONCURRENCY).",
)
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
    from scraper.app.bootstrap import wait_for_database
    from scraper.app.lifecycle import Service  # loads the worker and the metrics exporter

    runtime = runtime_for(database_url)
    setup_logging(runtime)
    service = Service.standalone_worker(runtime, concurrency, name, metrics_port)
    wait_for_database(runtime)
    service.prepare()
    service.run()
