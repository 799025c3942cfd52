"""The S3-compatible backend (AWS S3, SeaweedFS, MinIO, Garage, Ceph RGW) through boto3.

Downloads are staged locally like on disk, then uploaded (multipart above 8 MiB) under
`PREFIX/downloads/ab/<sha256>.<ext>`; a key already present is not uploaded again.

Content is shared between jobs, and an object store has no atomic rename, so a store that reuses
a file (`claim`) writes a claim object `PREFIX/claims/<key>/<id>` before it looks the file up,
and removes it (`release`) once its asset row committed. `discard` copies the file aside,
deletes it, and only then looks for claims and references: a claim made before the delete is
seen and the file is copied back; a store that looks after the delete finds nothing and uploads
its own copy. A claim older than CLAIM_SECONDS (its worker died) no longer counts.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any, BinaryIO, cast

import boto3
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from scraper.storage.base import Opened, Storage
from scraper.storage.errors import (
    ACCESS_DENIED,
    BACKEND_ERROR,
    BUCKET_MISSING,
    CREDENTIALS_MISSING,
    CREDENTIALS_REFUSED,
    ENDPOINT_UNREACHABLE,
    FileMissing,
    PathEscape,
    StorageProblem,
    StorageUnavailable,
)
from scraper.storage.local import CLAIM_SECONDS
from scraper.storage.names import DOWNLOADS, key_sha256

log = logging.getLogger(__name__)

MULTIPART_THRESHOLD = 8 * 1024 * 1024
PROBE_TTL = 5.0
CLAIMS = "claims"  # claim objects, beside (not under) DOWNLOADS: never listed as files
ASIDE = "discarding"  # files being discarded, copied back if a claim or reference shows up
TRANSFER = TransferConfig(
    multipart_threshold=MULTIPART_THRESHOLD,
    multipart_chunksize=MULTIPART_THRESHOLD,
    max_concurrency=4,
)
_MISSING_KEY = frozenset({"404", "NoSuchKey", "NotFound"})
_REFUSED = frozenset(
    {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken"}
)
_UNREACHABLE = (
    EndpointConnectionError,
    ConnectTimeoutError,
    ConnectionClosedError,
    ReadTimeoutError,
)


class S3Store(Storage):
    """Files as objects in one bucket, under an optional key prefix."""

    def __init__(
        self,
        data_dir: Path,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        read_through: Storage | None = None,
    ) -> None:
        super().__init__(data_dir)
        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.endpoint_url, self.region = endpoint_url, region
        self.url = f"s3://{bucket}/{self.prefix}".rstrip("/")
        # While files move from disk to the bucket, a key not copied yet is read from here.
        self.read_through = read_through
        self._lock = threading.Lock()
        self._probed_at = float("-inf")
        self._claims: dict[str, list[str]] = {}  # key -> this process's claim objects on it

    @cached_property
    def client(self) -> Any:
        """One boto3 client per store (clients are thread-safe; sessions are not)."""
        with self._lock:
            config = Config(
                connect_timeout=5,
                read_timeout=60,
                retries={"max_attempts": 3, "mode": "standard"},
                # Self-hosted stores answer on one host name: path-style addressing, and
                # checksums only where the API requires them (not every store has the new ones).
                s3={"addressing_style": "path" if self.endpoint_url else "auto"},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            )
            self._session = boto3.session.Session()
            return self._session.client(
                "s3",
                endpoint_url=self.endpoint_url,
                region_name=self.region or "us-east-1",
                config=config,
            )

    def object_key(self, key: str) -> str:
        """The object's name in the bucket; PathEscape for a key that is not a plain path."""
        if key.startswith("/") or any(part in ("", ".", "..") for part in key.split("/")):
            raise PathEscape(f"key {key!r} is not a plain relative path")
        return f"{self.prefix}/{key}" if self.prefix else key

    # -- the interface -------------------------------------------------------------------------

    def _save(self, partial: Path, key: str, content_type: str) -> None:
        extra = {"ContentType": content_type}
        size = partial.stat().st_size
        try:
            self.client.upload_file(
                str(partial), self.bucket, self.object_key(key), ExtraArgs=extra, Config=TRANSFER
            )
        except (BotoCoreError, ClientError, S3UploadFailedError) as exc:
            raise StorageUnavailable(self.classify(exc)) from exc
        log.info("uploaded %s (%d bytes) to %s", key, size, self.url)

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.object_key(key))
        except ClientError as exc:
            if _code(exc) in _MISSING_KEY:
                return False
            raise StorageUnavailable(self._explain_head(exc, key)) from exc
        except BotoCoreError as exc:
            raise StorageUnavailable(self.classify(exc)) from exc
        return True

    def _explain_head(self, exc: ClientError, key: str) -> StorageProblem:
        """A HEAD reply has no body, so a 403 does not say why: ask again with a GET."""
        if _code(exc) != "403":
            return self.classify(exc)
        try:
            self.client.get_object(Bucket=self.bucket, Key=self.object_key(key), Range="bytes=0-0")
        except (BotoCoreError, ClientError) as detailed:
            return self.classify(detailed)
        return self.classify(exc)

    def open(self, key: str) -> Opened:
        try:
            reply = self.client.get_object(Bucket=self.bucket, Key=self.object_key(key))
        except ClientError as exc:
            if _code(exc) not in _MISSING_KEY:
                raise StorageUnavailable(self.classify(exc)) from exc
            if self.read_through is None:
                raise FileMissing(key) from None
            return self.read_through.open(key)
        except BotoCoreError as exc:
            raise StorageUnavailable(self.classify(exc)) from exc
        return Opened(cast(BinaryIO, reply["Body"]), int(reply["ContentLength"]))

    def delete(self, key: str) -> bool:
        if not self.exists(key):
            return False
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.object_key(key))
        except (BotoCoreError, ClientError) as exc:
            raise StorageUnavailable(self.classify(exc)) from exc
        return True

    # -- sharing: claims are objects, a discard moves the file aside first ----------------------

    def claim(self, key: str) -> bool:
        """Reuse a stored file: a claim object is written, then the file looked up again.

        Written before the second lookup, the claim is seen by any discard whose delete came
        after that lookup found the file (the discard looks for claims after its delete).
        """
        if not self.exists(key):
            return False
        marker = self.object_key(f"{CLAIMS}/{key}/{uuid.uuid4().hex}")
        self._put(marker, b"")
        if not self.exists(key):  # discarded meanwhile: the caller uploads its own copy
            self._remove(marker)
            return False
        with self._lock:
            self._claims.setdefault(key, []).append(marker)
        return True

    def release(self, key: str) -> None:
        """Remove one claim this process made on `key` (a failure leaves it to expire)."""
        with self._lock:
            markers = self._claims.get(key)
            marker = markers.pop() if markers else None
            if not markers:
                self._claims.pop(key, None)
        if marker is not None:
            try:
                self._remove(marker)
            except StorageUnavailable as exc:
                log.warning("claim %s not removed (it expires by itself): %s", marker, exc)

    def discard(self, key: str, referenced: Callable[[], bool]) -> bool:
        """Copy the file aside, delete it, then delete the copy, or copy it back if a claim
        or an asset reference showed up by then; False if nothing was deleted."""
        source = self.object_key(key)
        aside = self.object_key(f"{ASIDE}/{uuid.uuid4().hex}")
        if not self._copy(source, aside):
            return False
        try:
            self._remove(source)
            keep = self._claimed(key) or referenced()
        except BaseException:
            keep = True  # undecided: the file goes back (if that fails too, the copy stays)
            raise
        finally:
            if keep:
                self._copy(aside, source)  # identical content if a store uploaded meanwhile
            self._remove(aside)
        return not keep

    def _claimed(self, key: str) -> bool:
        """Whether a live claim on `key` exists (claims past CLAIM_SECONDS are ignored)."""
        oldest = datetime.now(UTC) - timedelta(seconds=CLAIM_SECONDS)
        try:
            reply = self.client.list_objects_v2(
                Bucket=self.bucket, Prefix=self.object_key(f"{CLAIMS}/{key}") + "/"
            )
        except (BotoCoreError, ClientError) as exc:
            raise StorageUnavailable(self.classify(exc)) from exc
        return any(entry["LastModified"] > oldest for entry in reply.get("Contents", []))

    def sweep_claims(self, max_age: float | None = None) -> int:
        """Delete claim objects older than `max_age` (CLAIM_SECONDS): a worker killed between
        its claim and the release leaves one, which stops counting but stays in the bucket."""
        age = CLAIM_SECONDS if max_age is None else max_age
        oldest = datetime.now(UTC) - timedelta(seconds=age)
        start = f"{self.prefix}/" if self.prefix else ""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=f"{start}{CLAIMS}/"
        )
        removed = 0
        try:
            for page in pages:
                stale = [e["Key"] for e in page.get("Contents", []) if e["LastModified"] <= oldest]
                if stale:  # a page holds at most 1,000 keys, the most one delete takes
                    self.client.delete_objects(
                        Bucket=self.bucket,
                        Delete={"Objects": [{"Key": k} for k in stale], "Quiet": True},
                    )
                    removed += len(stale)
        except (BotoCoreError, ClientError) as exc:
            raise StorageUnavailable(self.classify(exc)) from exc
        return removed

    def _put(self, name: str, body: bytes) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=name, Body=body)
        except (BotoCoreError, ClientError) as exc:
            raise StorageUnavailable(self.classify(exc)) from exc

    def _remove(self, name: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=name)
        except (BotoCoreError, ClientError) as exc:
            raise StorageUnavailable(self.classify(exc)) from exc

    def _copy(self, source: str, target: str) -> bool:
        """Server-side copy (multipart for large objects); False if `source` is absent."""
        try:
            self.client.copy(
                {"Bucket": self.bucket, "Key": source}, self.bucket, target, Config=TRANSFER
            )
        except ClientError as exc:
            if _code(exc) in _MISSING_KEY:
                return False
            raise StorageUnavailable(self.classify(exc)) from exc
        except BotoCoreError as exc:
            raise StorageUnavailable(self.classify(exc)) from exc
        return True

    def keys(self) -> Iterator[str]:
        start = f"{self.prefix}/" if self.prefix else ""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=f"{start}{DOWNLOADS}/"
        )
        try:
            for page in pages:
                for entry in page.get("Contents", []):
                    key = entry["Key"][len(start) :]
                    if key_sha256(key) is not None:
                        yield key
        except (BotoCoreError, ClientError) as exc:
            raise StorageUnavailable(self.classify(exc)) from exc

    def check_writable(self) -> None:
        """Write and delete a probe object: proves the endpoint, bucket and credentials.

        A success is trusted for PROBE_TTL seconds (readiness and the dashboard's health
        panel poll often; two requests to the store per poll would be waste); a failure never.
        """
        if time.monotonic() - self._probed_at < PROBE_TTL:
            return
        probe = self.object_key(f".probe-{uuid.uuid4().hex}")
        try:
            self.client.put_object(Bucket=self.bucket, Key=probe, Body=b"ok")
            self.client.delete_object(Bucket=self.bucket, Key=probe)
        except (BotoCoreError, ClientError) as exc:
            raise StorageUnavailable(self.classify(exc)) from exc
        self._probed_at = time.monotonic()

    def create_bucket(self) -> bool:
        """Create the bucket; False if it already exists (and is ours)."""
        try:
            self.client.create_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if _code(exc) in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                return False
            raise StorageUnavailable(self.classify(exc)) from exc
        except BotoCoreError as exc:
            raise StorageUnavailable(self.classify(exc)) from exc
        return True

    # -- what went wrong, and what fixes it ------------------------------------------------------

    def classify(self, exc: BaseException) -> StorageProblem:
        """Name the failure (endpoint, bucket, credentials, permissions) and its fix."""
        cause = _unwrap(exc)
        where = self.endpoint_url or "AWS S3"
        if isinstance(cause, NoCredentialsError | PartialCredentialsError):
            return StorageProblem(
                CREDENTIALS_MISSING,
                f"No S3 credentials for {self.url} at {where}: {cause}",
                f"export AWS_ACCESS_KEY_ID=<key id> AWS_SECRET_ACCESS_KEY=<secret> "
                f"(a key that may write to s3://{self.bucket})",
            )
        if isinstance(cause, _UNREACHABLE):
            return StorageProblem(
                ENDPOINT_UNREACHABLE,
                f"The object store at {where} cannot be reached: {cause}",
                f"start the object store at {where}, or set SCRAPER_S3_ENDPOINT_URL to the "
                f"address it listens on (check: curl -sI {where})",
            )
        if isinstance(cause, ClientError):
            return self._classify_reply(cause, where)
        return StorageProblem(
            BACKEND_ERROR,
            f"The object store at {where} failed: {type(cause).__name__}: {cause}",
            f"look at the object store's log at {where}",
        )

    def _classify_reply(self, exc: ClientError, where: str) -> StorageProblem:
        code = _code(exc)
        if code == "NoSuchBucket":
            return StorageProblem(
                BUCKET_MISSING,
                f"The bucket {self.bucket} does not exist at {where}",
                f"ops storage create-bucket   (or: aws --endpoint-url {where} s3 mb "
                f"s3://{self.bucket})",
            )
        if code in _REFUSED:
            key_id = self._key_id()
            return StorageProblem(
                CREDENTIALS_REFUSED,
                f"The object store at {where} refused the credentials (key id {key_id}): {code}",
                "export AWS_ACCESS_KEY_ID=<key id> AWS_SECRET_ACCESS_KEY=<secret> with a key "
                f"pair the store at {where} knows",
            )
        if code in ("AccessDenied", "403", "AllAccessDisabled"):
            return StorageProblem(
                ACCESS_DENIED,
                f"The object store at {where} denied access to {self.url}: {code}",
                f"grant the key s3:PutObject, s3:GetObject, s3:DeleteObject and s3:ListBucket "
                f"on s3://{self.bucket}, or use a key that has them",
            )
        return StorageProblem(
            BACKEND_ERROR,
            f"The object store at {where} answered {code}: {exc}",
            f"look at the object store's log at {where}",
        )

    def _key_id(self) -> str:
        credentials = self._session.get_credentials() if self.client else None
        return credentials.access_key if credentials is not None else "none"


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _unwrap(exc: BaseException) -> BaseException:
    """The botocore error under boto3's S3UploadFailedError (it re-raises inside except)."""
    seen = exc
    while isinstance(seen, S3UploadFailedError) and seen.__context__:
        seen = seen.__context__
    return seen
