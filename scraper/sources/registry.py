"""The sources by name: the built-in ones, plus any a plug-in or test registers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from scraper.errors import UnknownSource
from scraper.sources.archive import ArchiveSource
from scraper.sources.base import Source
from scraper.sources.feed import FeedSource
from scraper.sources.flickr import FlickrSource
from scraper.sources.openverse import OpenverseSource
from scraper.sources.selftest import SelftestSource
from scraper.sources.url import UrlSource
from scraper.sources.wikimedia import WikimediaSource

if TYPE_CHECKING:
    from scraper.download import Downloader

_REGISTRY: dict[str, type[Source]] = {
    cls.name: cls
    for cls in (
        ArchiveSource,
        FeedSource,
        FlickrSource,
        OpenverseSource,
        SelftestSource,
        UrlSource,
        WikimediaSource,
    )
}


def register(cls: type[Source]) -> type[Source]:
    """Class decorator: make another source (a plug-in, a test double) available by its name."""
    _REGISTRY[cls.name] = cls
    return cls


def source_names() -> list[str]:
    """Every registered source name, sorted."""
    return sorted(_REGISTRY)


def source_descriptions() -> dict[str, str]:
    return {name: _REGISTRY[name].description for name in sorted(_REGISTRY)}


def get_source(
    name: str,
    downloader: Downloader | None = None,
    source_urls: Mapping[str, str] | None = None,
) -> Source:
    """Build the source called `name` (its API at `source_urls[name]` if configured);
    UnknownSource lists the known ones."""
    return source_class(name)(downloader, (source_urls or {}).get(name))


def source_class(name: str) -> type[Source]:
    """The registered class (its class attributes describe it); UnknownSource if none."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownSource(name, list(_REGISTRY)) from None


def validate_sources(names: list[str] | tuple[str, ...]) -> None:
    """Raise UnknownSource for the first name not in the registry."""
    known = source_names()
    for name in names:
        if name not in known:
            raise UnknownSource(name, known)
