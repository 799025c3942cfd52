"""Round-robin over several sources' results, so one source cannot starve the others."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

from scraper.errors import ScraperError, SourceError, UnknownSource
from scraper.sources import MediaItem, get_source

if TYPE_CHECKING:
    from scraper.download import Downloader

OnError = Callable[[str, Exception], None]


def search_all(
    names: Iterable[str],
    query: str,
    limit: int,
    safe_search: bool,
    downloader: Downloader | None,
    source_urls: Mapping[str, str],
    on_error: OnError,
    wanted: Callable[[], bool] = lambda: True,
) -> Iterator[tuple[str, MediaItem]]:
    """Every named source's results for `query`, interleaved; see `round_robin`."""
    streams = {
        name: _lazy(name, query, limit, safe_search, downloader, source_urls) for name in names
    }
    return round_robin(streams, on_error, wanted)


def _lazy(
    name: str,
    query: str,
    limit: int,
    safe_search: bool,
    downloader: Downloader | None,
    source_urls: Mapping[str, str],
) -> Iterator[MediaItem]:
    """Start the search only when its first item is wanted, so its errors stay its own."""
    try:
        source = get_source(name, downloader, source_urls)
    except UnknownSource as exc:
        raise SourceError(name, str(exc)) from None
    yield from source.search(query, limit, safe_search)


def round_robin(
    streams: Mapping[str, Iterable[MediaItem]],
    on_error: OnError,
    wanted: Callable[[], bool] = lambda: True,
) -> Iterator[tuple[str, MediaItem]]:
    """Yield (source, item) taking one item from each source in turn.

    A source whose search raises is reported to `on_error` and dropped; the others go on.
    `wanted` is asked before each pull, so no source pages its API for items nobody needs.
    """
    active = [(name, iter(items)) for name, items in streams.items()]
    while active and wanted():
        for entry in list(active):
            if not wanted():
                return
            name, items = entry
            try:
                item = next(items)
            except StopIteration:
                active.remove(entry)
                continue
            except (ScraperError, OSError) as exc:
                on_error(name, exc)
                active.remove(entry)
                continue
            yield name, item
