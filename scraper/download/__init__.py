"""The safe downloader: SSRF guard, retries, deadline, size cap, content-addressed storage.

policy.py   DownloadPolicy (limits) and the resolver hook
guard.py    scheme and address checks, done inside each socket connect
timing.py   the per-file deadline, backoff and Retry-After
cancel.py   CancelToken: stops every download carrying it (a cancelled job's pool)
downloader.py  Downloader.download / Downloader.fetch_page
"""

from scraper.download.downloader import Downloader
from scraper.download.guard import check_url, is_public_address
from scraper.download.policy import DEFAULT_CONTENT_TYPES, DownloadPolicy, system_resolver

__all__ = [
    "DEFAULT_CONTENT_TYPES",
    "DownloadPolicy",
    "Downloader",
    "check_url",
    "is_public_address",
    "system_resolver",
]
