"""The source interface and its registry: a source turns a query into media items."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from scraper.errors import UnknownSource

if TYPE_CHECKING:
    from scraper.download import Downloader


@dataclass(frozen=True)
class MediaItem:
    """One thing to store: a URL to download, or bytes an in-process source made."""

    url: str
    title: str | None = None
    license: str | None = None
    mime: str | None = None
    content: bytes | None = None


class Source(ABC):
    """A place to search; subclasses set `name` and implement `search`."""

    name: ClassVar[str]
    description: ClassVar[str] = ""

    def __init__(self, downloader: Downloader | None = None) -> None:
        self.downloader = downloader

    @abstractmethod
    def search(self, query: str, limit: int, safe_search: bool) -> list[MediaItem]:
        """Return at most `limit` items for `query`."""


_REGISTRY: dict[str, type[Source]] = {}


def register(cls: type[Source]) -> type[Source]:
    """Class decorator: make a source available by its name."""
    _REGISTRY[cls.name] = cls
    return cls


def source_names() -> list[str]:
    """Every registered source name, sorted."""
    _load_builtin()
    return sorted(_REGISTRY)


def source_descriptions() -> dict[str, str]:
    _load_builtin()
    return {name: _REGISTRY[name].description for name in sorted(_REGISTRY)}


def get_source(name: str, downloader: Downloader | None = None) -> Source:
    """Build the source called `name`; UnknownSource lists the known ones."""
    _load_builtin()
    try:
        cls = _REGISTRY[name]
    except KeyError:
        raise UnknownSource(name, list(_REGISTRY)) from None
    return cls(downloader)


def validate_sources(names: list[str] | tuple[str, ...]) -> None:
    """Raise UnknownSource for the first name not in the registry."""
    known = source_names()
    for name in names:
        if name not in known:
            raise UnknownSource(name, known)


def _load_builtin() -> None:
    # Imported for their @register side effect; done lazily to avoid import cycles.
    import scraper.sources  # noqa: F401
