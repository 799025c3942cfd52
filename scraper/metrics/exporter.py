"""The registry `/metrics` and the worker's exporter serve, single- or multi-process.

With PROMETHEUS_MULTIPROC_DIR set, process counters come from every process's files through
a MultiProcessCollector in a fresh registry (the documented prometheus_client set-up); without
it, from this process's default registry. The database collector is added on top when a
runtime is given, so it runs once per scrape whatever the number of processes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, multiprocess, start_http_server
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from scraper.metrics.collector import ScraperCollector
from scraper.runtime import Runtime


def multiprocess_dir() -> str | None:
    """The multiprocess directory, or None in single-process mode."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir")


class _ProcessMetrics(Collector):
    """This process's default registry, re-exported into a per-app registry."""

    def describe(self) -> Iterable[Metric]:
        return ()

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def build_registry(
    runtime: Runtime | None = None, collector: ScraperCollector | None = None
) -> CollectorRegistry:
    """A fresh registry: process metrics (multiprocess-aware) plus the runtime's gauges."""
    registry = CollectorRegistry(auto_describe=False)
    path = multiprocess_dir()
    if path:
        multiprocess.MultiProcessCollector(registry, path=path)
    else:
        registry.register(_ProcessMetrics())
    if collector is None and runtime is not None:
        collector = ScraperCollector(runtime)
    if collector is not None:
        registry.register(collector)
    return registry


def mark_process_dead(pid: int | None = None) -> None:
    """Tell multiprocess mode this process has exited (its live gauges are dropped)."""
    if multiprocess_dir():
        multiprocess.mark_process_dead(pid if pid is not None else os.getpid())


def serve_metrics(port: int, addr: str = "0.0.0.0") -> tuple[Any, Any]:
    """Serve the process (or, in multiprocess mode, this machine's) metrics on `addr:port`.

    The database gauges are left to the web app's /metrics so each series has one source.
    """
    return start_http_server(port, addr=addr, registry=build_registry())
