"""The source interface: a source turns a query into media items."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlencode

from scraper.errors import ConfigError, MalformedJSON, SourceError

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
    author: str | None = None
    landing_url: str | None = None  # the human page about the item (license, credits)
    # The source's own identity of the item (an API id, a feed guid); None: the URL is.
    # Not compared: two records of one item are equal whatever id a source gives them.
    item_id: str | None = field(default=None, compare=False)


class Source(ABC):
    """A place to search; subclasses set `name` and implement `search`.

    `search` may be a generator: the job pulls items lazily, round-robin across sources,
    so a source pages its API only as far as the job needs.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    # Where the API lives unless SCRAPER_SOURCE_<NAME>_URL says otherwise.
    default_url: ClassVar[str | None] = None
    # How safe search is applied ("mature=false"); None: this source has no filter.
    safe_search_filter: ClassVar[str | None] = None

    def __init__(self, downloader: Downloader | None = None, base_url: str | None = None) -> None:
        self.downloader = downloader
        self.base_url = (base_url or self.default_url or "").rstrip("/")

    @classmethod
    def validate_query(cls, query: str) -> None:
        """Refuse at submission a query this source can never search (InvalidQuery); any
        query suits a search source, so the default accepts all."""
        return None

    @abstractmethod
    def search(self, query: str, limit: int, safe_search: bool) -> Iterable[MediaItem]:
        """Yield at most `limit` items for `query`."""

    def api(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET `base_url + path` as JSON through the guarded, polite downloader; a body that
        does not parse is a SourceError naming this source."""
        if self.downloader is None:
            raise ConfigError(f"the {self.name} source needs a downloader")
        url = f"{self.base_url}{path}"
        if params:
            # doseq: a list value repeats the parameter (archive's `fl[]=a&fl[]=b`).
            url += "?" + urlencode({k: v for k, v in params.items() if v is not None}, doseq=True)
        try:
            return self.downloader.fetch_json(url)
        except MalformedJSON as exc:
            raise SourceError(self.name, f"malformed JSON from {exc.url}: {exc.reason}") from None

    def shape_error(self, what: str) -> SourceError:
        """The API answered JSON of a shape we do not know: say which part was off."""
        return SourceError(self.name, f"unexpected response: {what}")
