"""A job's error in one line a person understands (issue 15: readable errors)."""

from __future__ import annotations

import pytest

from scraper.jobs.explain import summarize_error

DNS = (
    "NothingStored: openverse: HTTPSConnectionPool(host='api.openverse.org', port=443): Max "
    'retries exceeded (Caused by NameResolutionError("<urllib3.connection.HTTPSConnection '
    "object at 0x7f>: Failed to resolve 'api.openverse.org' ([Errno -3] Temporary failure\"))"
)


@pytest.mark.parametrize(
    ("error", "summary"),
    [
        (DNS, "Can't resolve api.openverse.org"),
        (
            "NothingStored: openverse: HTTP status 429 for https://x/",
            "Openverse answered 429 Too Many Requests",
        ),
        ("BadStatus: HTTP status 503", "The server answered 503 Service Unavailable"),
        (
            "worker h:1:ab lost its lease (attempt 3 of 3)",
            "Its worker stopped responding (the lease expired)",
        ),
        ("SourceError: openverse: malformed JSON", "openverse: malformed JSON"),
        (
            "StorageRefused: 2 downloaded file(s) could not be stored (The object store at "
            "http://s3.lan:8333 cannot be reached: Connect timeout on endpoint URL); the 3 "
            "stored are kept and a retry fetches only the missing ones",
            "The storage refused files the job downloaded: retry it once the storage is back "
            "(the files it stored are kept)",
        ),
        ("RuntimeError: boom\nTraceback ...", "boom"),
        (None, None),
    ],
)  # fmt: skip
def test_errors_read_plainly_without_python_class_names(
    error: str | None, summary: str | None
) -> None:
    assert summarize_error(error) == summary
