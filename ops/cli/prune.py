"""`ops prune`: delete finished jobs older than N days, their asset rows and every stored file
no remaining asset references, in small batches (job writes are never held up for long).

The work is `scraper.jobs.housekeeping`'s; this shell reads the options and prints the counts.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import click

from ops.cli.base import OK, Options, Outcome, ops_command, runtime_for
from ops.errors import OpsError


@ops_command("prune")
@click.option(
    "--older-than",
    "days",
    type=click.IntRange(min=1),
    default=None,
    metavar="DAYS",
    help="Prune jobs that finished more than DAYS days ago (default: SCRAPER_RETENTION_DAYS).",
)
@click.option("--dry-run", is_flag=True, help="Count what would be pruned; delete nothing.")
def prune_command(opts: Options, days: int | None, dry_run: bool) -> Outcome:
    """Delete finished jobs older than DAYS, their asset rows and files no asset references.

    Exit 2 when neither --older-than nor SCRAPER_RETENTION_DAYS gives an age.
    """
    # heavy imports (the service's models and stores) load only when this command runs
    from scraper.jobs.housekeeping import prune
    from scraper.models import utcnow

    runtime = runtime_for(opts)
    days = days or runtime.settings.retention_days
    if days is None:
        raise OpsError("give --older-than DAYS, or set SCRAPER_RETENTION_DAYS")
    now = utcnow()
    try:
        removed = prune(runtime.Session, runtime.files, timedelta(days=days), dry_run, now=now)
    finally:
        runtime.close()
    cutoff = now - timedelta(days=days)
    payload: dict[str, Any] = {"dry_run": dry_run, "older_than_days": days}
    payload |= {"cutoff": cutoff.isoformat(), **removed.to_json()}
    verb = "would prune" if dry_run else "pruned"
    text = (
        f"{verb} {removed.jobs} job(s), {removed.assets} asset row(s), {removed.files} file(s) "
        f"(finished before {cutoff:%Y-%m-%d %H:%M} UTC)"
    )
    return Outcome(payload, text, OK)
