"""The `netns_lab` fixture: "hosts" made of Linux network namespaces on one bridge.

Each host is a namespace with its own loopback and one veth whose other end is on a bridge
in the test's namespace, which owns the gateway address (where shared services listen).
A host can be cut off the network (its veth end on the bridge set down) and reconnected,
or killed whole (every process in it SIGKILLed). Everything is removed at teardown, whatever
the test did: processes, namespaces, the bridge. Needs root and iproute2; skips (or fails
under SCRAPER_REQUIRE_SERVICES=1) where namespaces cannot be made.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import missing_service


class NetnsUnavailable(RuntimeError):
    """This machine cannot make network namespaces (not root, no iproute2, no permission)."""


def ip(*args: str) -> str:
    """Run `ip ARGS`; NetnsUnavailable with ip's own words if it fails."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise NetnsUnavailable(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


@dataclass
class Host:
    """One namespace: its name, address, the bridge-side veth, and what runs in it."""

    name: str
    namespace: str
    address: str
    uplink: str  # the veth end on the bridge (in the test's namespace)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def spawn(self, args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        """Start `python -m scraper.cli ARGS` inside this host, output to `log`."""
        command = ["ip", "netns", "exec", self.namespace, sys.executable, "-m", "scraper.cli"]
        with open(log, "ab") as out:
            child = subprocess.Popen(
                [*command, *args], env=env, stdout=out, stderr=subprocess.STDOUT
            )
        self.processes.append(child)
        return child

    def pids(self) -> list[int]:
        """Every process running inside the namespace."""
        try:
            return [int(p) for p in ip("netns", "pids", self.namespace).split()]
        except NetnsUnavailable:
            return []

    def kill(self) -> None:
        """SIGKILL every process of this host (a power cut), and reap our children."""
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for child in self.processes:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(timeout=10)

    def cut(self) -> None:
        """Unplug the host's cable: nothing in or out until `reconnect`."""
        ip("link", "set", self.uplink, "down")

    def reconnect(self) -> None:
        ip("link", "set", self.uplink, "up")


class Lab:
    """A bridge with the gateway address and the hosts attached to it."""

    def __init__(self) -> None:
        self.tag = f"{random.randrange(16**4):04x}"
        self.subnet = random.randrange(1, 250)
        self.bridge = f"scb{self.tag}"
        self.gateway = f"10.213.{self.subnet}.1"
        self.network = f"10.213.{self.subnet}.0/24"
        self.hosts: list[Host] = []

    def build(self) -> None:
        ip("link", "add", self.bridge, "type", "bridge")
        ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        ip("link", "set", self.bridge, "up")

    def host(self, name: str) -> Host:
        """A new namespace with an address on the bridge and its own loopback."""
        number = len(self.hosts) + 1
        namespace, uplink, inside = f"sc{self.tag}-{name}", f"scv{self.tag}{number}", "eth0"
        address = f"10.213.{self.subnet}.{10 + number}"
        ip("netns", "add", namespace)
        host = Host(name, namespace, address, uplink)
        self.hosts.append(host)
        ip("link", "add", uplink, "type", "veth", "peer", "name", f"scp{self.tag}{number}")
        ip("link", "set", f"scp{self.tag}{number}", "netns", namespace, "name", inside)
        ip("link", "set", uplink, "master", self.bridge, "up")
        ip("-n", namespace, "addr", "add", f"{address}/24", "dev", inside)
        ip("-n", namespace, "link", "set", inside, "up")
        ip("-n", namespace, "link", "set", "lo", "up")
        return host

    def destroy(self) -> None:
        """Kill what runs in every host, delete the namespaces and the bridge."""
        for host in self.hosts:
            host.kill()
            try:
                ip("netns", "del", host.namespace)
            except NetnsUnavailable:
                pass
            subprocess.run(["ip", "link", "del", host.uplink], capture_output=True, timeout=30)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True, timeout=30)


@pytest.fixture
def netns_lab() -> Iterator[Lab]:
    """An empty lab (bridge up, gateway address set); torn down after the test."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        missing_service("network namespaces need root and iproute2 (`ip`)")
    lab = Lab()
    try:
        try:
            lab.build()
        except NetnsUnavailable as exc:
            missing_service(f"cannot make a network namespace lab: {exc}")
        yield lab
    finally:
        lab.destroy()
