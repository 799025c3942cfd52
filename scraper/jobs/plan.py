"""Round-robin over several sources' results, so one source cannot starve the others."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from scraper.errors import ScraperError
from scraper.sources import MediaItem

OnError = Callable[[str, Exception], None]


def round_robin(
    streams: dict[str, Iterable[MediaItem]],
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
