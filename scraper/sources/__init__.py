"""Media sources: the interface (`base`), one module per source, the registry by name."""

from scraper.sources.base import MediaItem, Source
from scraper.sources.registry import (
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
