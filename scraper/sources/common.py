"""Helpers the sources share: a URL query checked at submission, JSON calls that name the
source, safe field access, HTML-to-text, license names, people's names, and refusing XML
entity declarations."""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Mapping
from html import unescape
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

from scraper.download.guard import check_url
from scraper.errors import InvalidQuery, SourceError, UnsafeURL
from scraper.sources.base import Source

# Creative Commons paths: /licenses/by-sa/4.0/, /publicdomain/zero/1.0/, /publicdomain/mark/1.0/
_CC_URL = re.compile(r"^/(licenses|publicdomain)/([a-z+-]+)/(\d+(?:\.\d+)?)", re.IGNORECASE)
# "nobody@flickr.com ("Jane Doe")" or "jane@example.org (Jane Doe)": the name in brackets.
_EMAIL_NAME = re.compile(r"^\s*\S+@\S+\s*\((.*)\)\s*$")
# What may come before the root element: the XML declaration, comments, processing instructions.
_PROLOG = re.compile(r"\A(?:\s+|<\?.*?\?>|<!--.*?-->)*", re.DOTALL)
_PROLOG_BYTES = 64 * 1024  # a prolog longer than this is refused like a DOCTYPE


class UrlQuerySource(Source):
    """A source whose query is one http(s) address (a page, a feed)."""

    @classmethod
    def validate_query(cls, query: str) -> None:
        """Refuse what the address guard refuses by scheme or form (no DNS: that is at fetch)."""
        try:
            check_url(query.strip())
        except UnsafeURL as exc:
            raise InvalidQuery(cls.name, f"an http(s) URL as its query: {exc.reason}") from None


class ApiSource(Source):
    """A source whose search is JSON API calls, with checks of the answer's shape."""

    def mapping(self, value: object, what: str) -> Mapping[str, Any]:
        """`value` as a JSON object, or a shape error saying which part was not one."""
        if not isinstance(value, Mapping):
            raise self.shape_error(f"{what} is not an object")
        return value

    def records(self, value: object, what: str) -> list[Mapping[str, Any]]:
        """`value` as a list of JSON objects; entries that are not objects are dropped."""
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.shape_error(f"{what} is not a list")
        return [entry for entry in value if isinstance(entry, Mapping)]


def text_at(data: object, *keys: str) -> str | None:
    """The non-blank string at `data[k1][k2]...`, stripped; None if any step is missing."""
    for key in keys:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    if isinstance(data, str) and data.strip():
        return data.strip()
    return None


def http_url(value: str | None) -> str | None:
    """`value` if it is an absolute http(s) URL with a host, else None."""
    if not value:
        return None
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return None
    return value.strip() if parts.scheme in ("http", "https") and parts.hostname else None


def guess_mime(name: str) -> str | None:
    """The media type a file name or URL path suggests (`x.jpg` -> `image/jpeg`)."""
    return mimetypes.guess_type(urlsplit(name).path or name)[0]


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def strip_html(value: str | None) -> str | None:
    """Plain text of an HTML fragment (Commons credits are links), whitespace collapsed."""
    if not value:
        return None
    parser = _Text()
    parser.feed(value)
    parser.close()
    text = " ".join(unescape("".join(parser.parts)).split())
    return text or None


def cc_license(code: str | None, version: str | None = None) -> str | None:
    """A readable license name from a short code: by-sa 4.0 -> CC BY-SA 4.0, cc0 -> CC0 1.0,
    pdm -> PDM (the Public Domain Mark carries no version worth showing)."""
    if not code or not code.strip():
        return None
    code = code.strip().lower()
    if code in ("pdm", "mark"):
        return "PDM"
    if code in ("cc0", "zero"):
        return f"CC0 {version or '1.0'}"
    name = f"CC {code.upper()}"
    return f"{name} {version}" if version else name


def license_from_url(url: str | None) -> str | None:
    """Creative Commons deed URLs as names (CC BY 4.0); any other license URL as given."""
    if not url or not url.strip():
        return None
    url = url.strip()
    parts = urlsplit(url)
    match = _CC_URL.match(parts.path)
    if not parts.netloc.lower().endswith("creativecommons.org") or match is None:
        return url
    return cc_license(match.group(2), match.group(3))


def person_name(value: str | None) -> str | None:
    """The name in `email (Name)` author fields (RSS, Flickr), quotes removed; else the value."""
    if not value or not value.strip():
        return None
    match = _EMAIL_NAME.match(value)
    if match is None:
        return value.strip()
    name = match.group(1).strip().strip("\"'").strip()
    return name or None


def refuse_doctype(data: bytes, source: str) -> None:
    """Refuse an untrusted XML document that declares a DOCTYPE: that is how entity bombs
    (billion laughs, external entities) get in. SourceError names the source.

    Looked for in the bytes, before any parser: NUL bytes are dropped first so that a UTF-16
    or UTF-32 prolog reads like an ASCII one.
    """
    head = data[:_PROLOG_BYTES].replace(b"\x00", b"").decode("latin-1")
    head = head.removeprefix("\xef\xbb\xbf").lstrip("\ufeff\xfe\xff")
    prolog = _PROLOG.match(head)
    rest = head[prolog.end() if prolog else 0 :]
    if rest.startswith("<!") or (not rest and len(data) > _PROLOG_BYTES):
        raise SourceError(source, "the XML declares a DOCTYPE; refused (entity expansion risk)")
