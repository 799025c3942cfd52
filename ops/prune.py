"""`ops prune`: delete finished jobs older than N days, their asset rows and every stored file
no remaining asset references, in small batches (job writes are never held up for long).

Its own module (registered on `ops` by `ops.cli`): the work is `scraper.jobs.housekeeping`'s,
this is the shell that reads the options and prints the counts.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import timedelta
from typing import Any, NoReturn

import click

from scraper.config import DEFAULT_DATABASE_URL
from scraper.db import first_line, sqlite_file
from scraper.errors import ConfigError

CANNOT_RUN = 2


def _stop(message: str, as_json: bool) -> NoReturn:
    """One line on stderr (and a JSON error on stdout with --json), exit 2."""
    if as_json:
        click.echo(json.dumps({"error": "cannot_run", "message": message}))
    click.echo(f"error: {message}", err=True)
    sys.exit(CANNOT_RUN)


@click.command("prune")
@click.option(
    "--older-than",
    "days",
    type=click.IntRange(min=1),
    default=None,
    metavar="DAYS",
    help="Prune jobs that finished more than DAYS days ago (default: SCRAPER_RETENTION_DAYS).",
)
@click.option("--dry-run", is_flag=True, help="Count what would be pruned; delete nothing.")
@click.option(
    "--database-url",
    default=None,
    help="Database URL (default: SCRAPER_DATABASE_URL or sqlite:///data/scraper.db).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
def prune_command(days: int | None, dry_run: bool, database_url: str | None, as_json: bool) -> None:
    """Delete finished jobs older than DAYS, their asset rows and files no asset references."""
    # heavy imports (the service's models and stores) load only when this command runs
    from sqlalchemy.exc import SQLAlchemyError

    from scraper.jobs.housekeeping import prune
    from scraper.models import utcnow
    from scraper.runtime import Runtime
    from scraper.storage import StorageError

    url = database_url or os.environ.get("SCRAPER_DATABASE_URL") or DEFAULT_DATABASE_URL
    try:
        runtime = Runtime.from_env(database_url=url)
    except ConfigError as exc:
        _stop(str(exc).strip().splitlines()[0], as_json)
    days = days or runtime.settings.retention_days
    if days is None:
        _stop("give --older-than DAYS, or set SCRAPER_RETENTION_DAYS", as_json)
    path = sqlite_file(url)
    if path is not None and not path.exists():
        _stop(f"no database at {path} (check --database-url)", as_json)
    now = utcnow()
    try:
        removed = prune(runtime.Session, runtime.files, timedelta(days=days), dry_run, now=now)
    except SQLAlchemyError as exc:
        _stop(f"the database could not answer: {first_line(exc)}", as_json)
    except StorageError as exc:
        _stop(f"the storage could not answer: {exc}", as_json)
    finally:
        runtime.close()
    cutoff = now - timedelta(days=days)
    payload: dict[str, Any] = {"dry_run": dry_run, "older_than_days": days}
    payload |= {"cutoff": cutoff.isoformat(), **removed.to_json()}
    if as_json:
        click.echo(json.dumps(payload, indent=2))
        return
    verb = "would prune" if dry_run else "pruned"
    click.echo(
        f"{verb} {removed.jobs} job(s), {removed.assets} asset row(s), {removed.files} file(s) "
        f"(finished before {cutoff:%Y-%m-%d %H:%M} UTC)"
    )
