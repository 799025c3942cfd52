"""The `scraper` command: serve, worker, search, create-user, reset-password, create-token."""

from __future__ import annotations

import json
import signal
import sys
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

from scraper.accounts import (
    AccountError,
    create_token,
    create_user,
    ensure_admin,
    reset_password,
)
from scraper.bootstrap import prepare
from scraper.config import DEFAULT_SECRET_KEY
from scraper.errors import ScraperError
from scraper.logs import configure_logging
from scraper.runtime import Runtime

if TYPE_CHECKING:
    from scraper.direct import Fetched, Found
    from scraper.storage import Storage

database_url_option = click.option(
    "--database-url", envvar="SCRAPER_DATABASE_URL", help="Database URL (overrides env)."
)


def _runtime(database_url: str | None) -> Runtime:
    try:
        return Runtime.from_env(database_url=database_url)
    except ScraperError as exc:
        raise click.UsageError(str(exc)) from exc


def _setup_logging(runtime: Runtime) -> None:
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
    # heavy imports (waitress, Flask, the worker) load only when this command runs
    from waitress.server import create_server

    from scraper.jobs import Reconciler
    from scraper.selfheal import SelfHealer
    from scraper.web import create_app
    from scraper.web.limits import waitress_options as limits
    from scraper.worker import Worker

    runtime = _runtime(database_url)
    _setup_logging(runtime)
    runtime.settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = create_app({"SCRAPER_RUNTIME": runtime})
    try:  # bind first: a busy port must fail before anything is printed or created
        server: Any = create_server(
            app, host=host, port=port, threads=threads, ident="scraper", **limits(runtime.settings)
        )
    except OSError as exc:
        hint = " (another port: --port N, or `make run PORT=N`)" if port else ""
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}{hint}") from exc
    for warning in startup_warnings(runtime):
        click.echo(f"warning: {warning}", err=True)
    report = prepare(runtime)
    for problem in report.problems:
        click.echo(f"warning: {problem} (run `ops doctor`)", err=True)
    _announce_admin(runtime)
    settings = runtime.settings
    reconciler: Reconciler = (
        SelfHealer(runtime)
        if settings.auto_heal == "safe"
        else Reconciler(runtime.store, runtime.fallback, settings.reconcile_interval)
    )
    reconciler.start()
    worker = None if no_worker else Worker(runtime, concurrency=concurrency)
    if worker is not None:
        worker.start()
    signal.signal(signal.SIGTERM, _raise_interrupt)
    bound = getattr(server, "effective_port", port)
    click.echo(f"Serving on http://{host}:{bound}  (Ctrl+C to stop)", err=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        reconciler.stop()
        if worker is not None:
            worker.stop()


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
    # heavy imports (the worker, the metrics exporter) load only when this command runs
    from scraper.metrics.registry import mark_process_dead, serve_metrics
    from scraper.selfheal import SelfHealer
    from scraper.worker import Worker

    runtime = _runtime(database_url)
    _setup_logging(runtime)
    prepare(runtime)
    if metrics_port is not None:
        serve_metrics(metrics_port)
    healer = SelfHealer(runtime) if runtime.settings.auto_heal == "safe" else None
    if healer is not None:
        healer.start()
    w = Worker(runtime, concurrency=concurrency, worker_id=name)
    signal.signal(signal.SIGTERM, lambda signum, frame: w._stop.set())
    try:
        w.run()
    except KeyboardInterrupt:
        pass
    finally:
        w.stop()
        if healer is not None:
            healer.stop()
        mark_process_dead()


@main.command()
@click.argument("query")
@click.option(
    "--source",
    "sources",
    multiple=True,
    required=True,
    help="Source to search (repeat for several; see GET /api/sources).",
)
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 10_000))
@click.option(
    "--safe-search/--no-safe-search", default=True, show_default=True, help="Filter mature results."
)
@click.option("--dry-run", is_flag=True, help="Only list what would be downloaded.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def search(
    query: str,
    sources: tuple[str, ...],
    limit: int,
    safe_search: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Search SOURCES for QUERY and download the files into the data dir (no job, no database).

    Exit status: 0 when something was found (or nothing matched), 1 when every source failed.
    """
    # heavy imports (the sources, the downloader) load only when this command runs
    from scraper.direct import download, find
    from scraper.download import Downloader, DownloadPolicy

    runtime = _runtime(None)
    settings = runtime.settings
    with Downloader(runtime.files, DownloadPolicy.from_settings(settings)) as downloader:
        try:
            findings = find(
                list(sources), query, limit, safe_search, downloader, settings.source_urls
            )
        except ScraperError as exc:
            raise click.UsageError(str(exc)) from exc
        for name, error in findings.errors.items():
            click.echo(f"warning: {name} failed: {error}", err=True)
        if dry_run:
            _print_findings(findings.items, as_json)
        else:
            with click.progressbar(
                length=len(findings.items), label="Downloading", file=sys.stderr
            ) as bar:
                fetched = download(
                    findings.items, runtime.files, downloader, lambda _found: bar.update(1)
                )
            _print_fetched(fetched, runtime.files, as_json)
    if findings.errors and len(findings.errors) == len(set(sources)):
        sys.exit(1)


def _found_json(found: Found) -> dict[str, Any]:
    item = found.item
    return {
        "source": found.source,
        "url": item.url,
        "title": item.title,
        "license": item.license,
        "author": item.author,
        "landing_url": item.landing_url,
    }


def _print_findings(found: list[Found], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"items": [_found_json(f) for f in found]}, indent=2))
        return
    for entry in found:
        license_ = entry.item.license or "license unknown"
        click.echo(f"{entry.source:<10} {entry.item.url}  [{license_}]  {entry.item.title or ''}")
    click.echo(f"{len(found)} items would be downloaded", err=True)


def _print_fetched(fetched: Fetched, store: Storage, as_json: bool) -> None:
    if as_json:
        files = [
            {**_found_json(f), "path": s.path, "sha256": s.sha256, "size_bytes": s.size_bytes}
            for f, s in fetched.stored
        ]
        skipped = [{**_found_json(f), "reason": r, "detail": d} for f, r, d in fetched.skipped]
        click.echo(json.dumps({"stored": files, "skipped": skipped}, indent=2))
        return
    for entry, stored in fetched.stored:
        click.echo(f"{store.location(stored.path)}  <- {entry.item.url}")
    for entry, reason, detail in fetched.skipped:
        click.echo(f"skipped ({reason}): {entry.item.url}: {detail}", err=True)
    click.echo(f"{len(fetched.stored)} stored, {len(fetched.skipped)} skipped", err=True)


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


@main.command("reset-password")
@click.argument("name")
@click.option("--password", default=None, help="The new password (default: a random one).")
@database_url_option
def reset_password_cmd(name: str, password: str | None, database_url: str | None) -> None:
    """Set a new password for user NAME and sign them out everywhere.

    Without --password a random one is made and printed alone on stdout (shown once).
    """
    runtime = _runtime(database_url)
    try:
        new = reset_password(runtime.Session, name, password)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    if password is None:
        click.echo(new)
    click.echo(f"password of {name} reset; their browser sessions are signed out", err=True)


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
