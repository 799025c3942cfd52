"""`scraper search`: search sources and download from the terminal (no job, no database)."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

from scraper.cli.base import main, runtime_for

if TYPE_CHECKING:
    from scraper.storage import Storage
    from scraper.worker.terminal import Fetched, Found

# A refusal of the API's request model, by field, as the option or argument that gave it.
PARAMETER_OF_FIELD = {"query": "QUERY", "enabled_sources": "--source"}


@main.command()
@click.argument("query")
@click.option(
    "--source",
    "sources",
    multiple=True,
    required=True,
    help="Source to search (repeat for several; see GET /api/sources).",
)
@click.option(
    "--limit",
    default=10,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="At most this many items, across all sources.",
)
@click.option(
    "--safe-search/--no-safe-search", default=True, show_default=True, help="Filter mature results."
)
@click.option("--dry-run", is_flag=True, help="Only list what would be downloaded.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option(
    "--database-url",
    envvar="SCRAPER_DATABASE_URL",
    help="Taken as by every command, and not used: a search records nothing in a database.",
)
def search(
    query: str,
    sources: tuple[str, ...],
    limit: int,
    safe_search: bool,
    dry_run: bool,
    as_json: bool,
    database_url: str | None,
) -> None:
    """Search the sources for QUERY and download the files into the data dir (no job, no
    database). QUERY is refused as the API refuses it (empty; a non-http(s) URL for `url`).

    Exit status: 0 when something was found (or nothing matched), 1 when every source failed.
    """
    # heavy imports (the sources, the downloader) load only when this command runs
    from scraper.download import Downloader, DownloadPolicy
    from scraper.worker.terminal import download, find

    query = _validated(query, sources)
    runtime = runtime_for(None)
    settings = runtime.settings
    with Downloader(runtime.files, DownloadPolicy.from_settings(settings)) as downloader:
        findings = find(list(sources), query, limit, safe_search, downloader, settings.source_urls)
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


def _validated(query: str, sources: tuple[str, ...]) -> str:
    """The query as the API would store it; a usage error naming the parameter otherwise."""
    from pydantic import ValidationError

    from scraper.web.schemas import SearchRequest  # the API's own rules, not a copy

    given = {"query": query, "enabled_sources": list(sources), "max_content": 1}
    try:
        return SearchRequest.model_validate(given).query
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else ""
        hint = PARAMETER_OF_FIELD.get(field, field)
        raise click.BadParameter(error["msg"], param_hint=repr(hint)) from None


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
