"""Media sources; importing the package registers the built-in ones."""

from scraper.sources import (  # noqa: F401 - registration
    archive,
    feed,
    flickr,
    openverse,
    selftest,
    url,
    wikimedia,
)
from scraper.sources.base import (
    MediaItem,
    Source,
    get_source,
    register,
    source_class,
    source_descriptions,
    source_names,
    validate_sources,
)

__all__ = [
    "MediaItem",
    "Source",
    "get_source",
    "register",
    "source_class",
    "source_descriptions",
    "source_names",
    "validate_sources",
]
