"""Round-robin over several sources' results, so one source cannot starve the others.

`Sources.search` yields what the sources offer, one `Found` at a time, and a `SourceFailed`
for a source whose search broke; the caller pulls only as many as it wants, so no source
pages its API for items nobody needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from scraper.errors import ScraperError, SourceError, UnknownSource
from scraper.sources import MediaItem, get_source

if TYPE_CHECKING:
    from scraper.download import Downloader


@dataclass(frozen=True)
class Search:
    """What to look for and where: a job's terms, or those of `scraper search`."""

    sources: Sequence[str]
    query: str
    limit: int
    safe_search: bool


@dataclass(frozen=True)
class Found:
    """One item a source offered."""

    source: str
    item: MediaItem


@dataclass(frozen=True)
class SourceFailed:
    """A source whose search raised: it offers nothing more."""

    source: str
    error: Exception


class Sources:
    """The registered sources, built with the downloader they fetch their APIs through."""

    def __init__(
        self, downloader: Downloader | None = None, urls: Mapping[str, str] | None = None
    ) -> None:
        self.downloader = downloader
        self.urls = urls or {}

    def search(self, terms: Search) -> Iterator[Found | SourceFailed]:
        """Every named source's results for the terms, interleaved; see `round_robin`."""
        return round_robin({name: self._lazy(name, terms) for name in terms.sources})

    def _lazy(self, name: str, terms: Search) -> Iterator[MediaItem]:
        """Start the search only when its first item is wanted, so its errors stay its own."""
        try:
            source = get_source(name, self.downloader, self.urls)
        except UnknownSource as exc:
            raise SourceError(name, str(exc)) from None
        yield from source.search(terms.query, terms.limit, terms.safe_search)


def round_robin(streams: Mapping[str, Iterable[MediaItem]]) -> Iterator[Found | SourceFailed]:
    """Yield one item from each source in turn; a source whose search raises is yielded as
    `SourceFailed` and dropped while the others go on. Nothing is pulled before it is asked for.
    """
    active = [(name, iter(items)) for name, items in streams.items()]
    while active:
        for entry in list(active):
            name, items = entry
            try:
                item = next(items)
            except StopIteration:
                active.remove(entry)
                continue
            except (ScraperError, OSError) as exc:
                active.remove(entry)
                yield SourceFailed(name, exc)
                continue
            yield Found(name, item)
