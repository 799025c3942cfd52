"""A job's error in one line a person understands; the raw text stays for the details."""

from __future__ import annotations

import re
from http import HTTPStatus

# Tried in order; the first that matches names the problem. Groups: host / status / source.
_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    # Before the rest: the store's own reason (a timeout, a refused connection) is quoted.
    (
        re.compile(r"^\d+ downloaded file\(s\) could not be stored"),
        "The storage refused files the job downloaded: retry it once the storage is back "
        "(the files it stored are kept)",
    ),
    # First: the guard's message quotes the URL it refused, often ".../robots.txt".
    (
        re.compile(r"(?P<host>[\w.:\[\]%-]+) resolves to non-public address (?P<ip>[\w.:%-]+)"),
        "{host} is a private or local address ({ip}): downloads from it are refused; set "
        "SCRAPER_ALLOW_PRIVATE_NETWORKS=1, or add {host} to SCRAPER_TRUSTED_HOSTS, to allow it",
    ),
    (re.compile(r"Failed to resolve '(?P<host>[^']+)'"), "Can't resolve {host}"),
    (
        re.compile(r"host='(?P<host>[^']+)'.*(?:NameResolution|getaddrinfo|not known)", re.S),
        "Can't resolve {host}",
    ),
    (re.compile(r"NameResolution|getaddrinfo|Name or service not known"), "Can't resolve a host"),
    (
        # Source names are lower case: "openverse: HTTP status 429 for ..."
        re.compile(r"^(?P<source>[a-z]\w*): .*?\b(?P<status>[45]\d\d)\b", re.S),
        "{Source} answered {http}",
    ),
    (re.compile(r"HTTP status (?P<status>[45]\d\d)"), "The server answered {http}"),
    (
        re.compile(r"(?:Connection refused|ConnectionRefused).*?host='?(?P<host>[\w.-]+)", re.S),
        "{host} refused the connection",
    ),
    (re.compile(r"Connection refused|ConnectionRefused", re.I), "The connection was refused"),
    (re.compile(r"timed? ?out|Timeout|deadline", re.I), "A server took too long to answer"),
    (re.compile(r"lost its lease", re.I), "Its worker stopped responding (the lease expired)"),
    (re.compile(r"robots\.txt", re.I), "The site's robots.txt does not allow fetching it"),
    (re.compile(r"content type", re.I), "A file had a content type that is not allowed"),
    (re.compile(r"too large|size cap", re.I), "A file was larger than the size cap"),
)
# "NothingStored: ", "requests.exceptions.ConnectionError: ": a Python class, not a sentence.
_CLASS_PREFIX = re.compile(r"^(?:(?:[a-z_]+\.)*[A-Z]\w*: )+")


def summarize_error(error: str | None) -> str | None:
    """'Can't resolve api.openverse.org', 'Openverse answered 429 Too Many Requests', ..."""
    if not error:
        return None
    text = _CLASS_PREFIX.sub("", error.strip())
    for pattern, template in _RULES:
        match = pattern.search(text)
        if match:
            return _fill(template, match.groupdict())
    first = text.splitlines()[0].strip() if text else ""
    return (first[:157] + "...") if len(first) > 160 else (first or "The job failed")


def _fill(template: str, groups: dict[str, str | None]) -> str:
    status = groups.get("status")
    http = ""
    if status:
        try:
            http = f"{status} {HTTPStatus(int(status)).phrase}"
        except ValueError:
            http = status
    source = (groups.get("source") or "").capitalize()
    host, ip = groups.get("host") or "", groups.get("ip") or ""
    return template.format(host=host, ip=ip, http=http, Source=source)
