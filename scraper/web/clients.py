"""The address a request comes from, as the sign-in throttle counts it.

Behind a reverse proxy every request arrives from the proxy's address, so counting
`remote_addr` would let one guesser throttle everybody. `X-Forwarded-For` is believed only when
the peer is a proxy named in `SCRAPER_WEB_TRUSTED_PROXY`, and then only as far back as the
trusted hops go: the nearest address a trusted proxy did not write is the client (anything
before it is whatever the client claimed, and a client can claim anything).
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import ip_address, ip_network

from flask import request

from scraper.web.context import current_runtime


def _trusted(address: str, proxies: Iterable[str]) -> bool:
    try:
        ip = ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in ip_network(net) for net in proxies)


def forwarded_client(peer: str, forwarded_for: str | None, proxies: Iterable[str]) -> str:
    """The client's address: `peer`, or the nearest untrusted hop of `X-Forwarded-For` when
    `peer` is a trusted proxy."""
    proxies = tuple(proxies)
    if not forwarded_for or not _trusted(peer, proxies):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            return hop
    return hops[0] if hops else peer


def client_address() -> str:
    """The address of this request's client (see the module's docstring)."""
    proxies = current_runtime().settings.web_trusted_proxy
    forwarded = request.headers.get("X-Forwarded-For")
    return forwarded_client(request.remote_addr or "", forwarded, proxies)
