"""The local-disk backend's write path: directories made when a file needs them, each key
looked up once, the same files and claims as before."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path

import pytest

from scraper.sources.selftest import make_png
from scraper.storage import PathEscape, stored_key
from scraper.storage.local import CLAIM_SECONDS, FileStore


def test_a_file_is_stored_under_its_content_address_with_its_directories_made(
    tmp_path: Path,
) -> None:
    store = FileStore(tmp_path / "data")  # neither `tmp` nor `downloads` exists yet
    blob = make_png("local/one")
    stored = store.put_bytes(blob, "image/png", "one.png")

    digest = hashlib.sha256(blob).hexdigest()
    assert (stored.path, stored.sha256, stored.size_bytes) == (
        stored_key(digest, "image/png"),
        digest,
        len(blob),
    )
    assert not stored.claimed and store.read_bytes(stored.path) == blob
    assert list(store.tmp_dir.iterdir()) == []  # the partial file was renamed into place


def test_the_tmp_and_shard_directories_are_made_again_when_removed(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "data")
    first = store.put_bytes(make_png("local/a"), "image/png", "a.png")
    shutil.rmtree(store.tmp_dir)
    shutil.rmtree(store.downloads_dir)  # e.g. an operator emptied the store
    again = store.put_bytes(make_png("local/a"), "image/png", "a.png")
    assert again.path == first.path and not again.claimed
    assert store.exists(again.path) and list(store.tmp_dir.iterdir()) == []


def test_identical_content_is_claimed_not_stored_twice(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "data")
    blob = make_png("local/twin")
    first = store.put_bytes(blob, "image/png", "twin.png")
    before = time.time()
    second = store.put_bytes(blob, "image/png", "other.png")
    assert second.path == first.path and second.claimed and not first.claimed
    # The claim holds the file against a discard: its mtime is set ahead.
    assert os.stat(store.resolve(second.path)).st_mtime >= before + CLAIM_SECONDS - 1
    assert list(store.tmp_dir.iterdir()) == []  # the second partial file was dropped
    assert len(list(store.keys())) == 1


def test_a_symlinked_store_outside_the_data_dir_is_refused_on_write(tmp_path: Path) -> None:
    """The write path resolves its key as every read does: a link that leads out of the data
    directory is refused, not written through."""
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    store = FileStore(tmp_path / "data")
    store.data_dir.mkdir(parents=True)
    (store.data_dir / "downloads").symlink_to(outside, target_is_directory=True)
    with pytest.raises(PathEscape):
        store.put_bytes(make_png("local/link"), "image/png", "link.png")
    assert list(outside.iterdir()) == [] and list(store.tmp_dir.iterdir()) == []


def test_a_shard_directory_swapped_for_a_link_after_a_store_is_refused(tmp_path: Path) -> None:
    """A store trusts a shard directory it has resolved while the path leads to the same
    directory: one put there (resolved, trusted), then the directory is replaced by a link to
    one outside the data directory; the next put of that shard is refused, not written through."""
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    store = FileStore(tmp_path / "data")
    first = store.put_bytes(make_png("local/shard/0"), "image/png", "0.png")
    shard = first.path.rsplit("/", 1)[0]
    same_shard = next(
        blob
        for blob in (make_png(f"local/shard/{i}") for i in range(1, 100_000))
        if hashlib.sha256(blob).hexdigest()[:2] == first.sha256[:2]
    )
    second = store.put_bytes(same_shard, "image/png", "1.png")  # trusted by the cache now
    assert store.resolve(second.path).parent == store.data_dir / shard
    (store.data_dir / shard).rename(tmp_path / "moved")
    (store.data_dir / shard).symlink_to(outside, target_is_directory=True)
    with pytest.raises(PathEscape):
        store.put_bytes(same_shard, "image/png", "again.png")
    assert list(outside.iterdir()) == []
