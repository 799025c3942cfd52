"""What the address guard will refuse, known without DNS: a URL whose host is a literal
non-public address or `localhost`. Checked at submission, so such a job is never created."""

from __future__ import annotations

import ipaddress
from collections.abc import Collection
from urllib.parse import urlsplit

from scraper.download.guard import is_public_address

ALLOW_HINT = (
    "set SCRAPER_ALLOW_PRIVATE_NETWORKS=1, or add the host to SCRAPER_TRUSTED_HOSTS, to allow it"
)


def refused_host(url: str, allow_private: bool, trusted: Collection[str]) -> str | None:
    """Why the guard will refuse the URL's host (a sentence), or None if it may be public."""
    try:
        host = (urlsplit(url).hostname or "").strip("[]").lower()
    except ValueError:
        return None  # malformed: the URL check names that
    if not host or allow_private or host in {name.lower() for name in trusted}:
        return None
    if host == "localhost" or host.endswith(".localhost"):
        return f"{host} is this machine (a local address)"
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None  # a name: only DNS can tell, at fetch time
    return None if is_public_address(ip) else f"{host} is a private or local address"
