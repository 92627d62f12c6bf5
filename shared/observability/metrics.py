"""Prometheus metrics, held in a registry per app (tests build many apps in one process).

With several worker processes (WORKERS > 1), `shared/serving` points PROMETHEUS_MULTIPROC_DIR
at a fresh directory before they start: prometheus-client then keeps every process's values
in files there, and a scrape of any worker reads and sums them all.
"""

import os
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

MULTIPROCESS_DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"


class RequestMetrics:
    """Labelled by route template (`/api/v1/items/{item_id}`), never by raw path."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time from the request's arrival to the end of its response.",
            ["method", "route"],
            registry=registry,
        )
        # Bounded: methods × route templates (unknown paths share one) × statuses.
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self.in_flight = Gauge(
            "http_requests_in_flight",
            "Requests being served right now.",
            registry=registry,
            multiprocess_mode="livesum",
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        # labels() validates and locks on every call; the children are looked up once each.
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(method, route),
            )
        requests, latency = children
        requests.inc()
        latency.observe(seconds)


# The pool's figures, each with its help text and how to read it off SQLAlchemy's pool.
POOL_FIGURES: dict[str, tuple[str, Callable[[QueuePool], int]]] = {
    "db_pool_size": ("Connections the pool keeps open.", QueuePool.size),
    "db_pool_checked_out": ("Pooled connections in use right now.", QueuePool.checkedout),
    "db_pool_checked_in": ("Idle connections in the pool.", QueuePool.checkedin),
    # SQLAlchemy counts overflow up from -pool_size.
    "db_pool_overflow": (
        "Connections open beyond the pool size.",
        lambda pool: max(pool.overflow(), 0),
    ),
}


class DatabasePoolCollector(Collector):
    """Reads the engine's connection pool at scrape time."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        pool = self.engine.pool
        if not isinstance(pool, QueuePool):
            return
        for name, (documentation, read) in POOL_FIGURES.items():
            yield GaugeMetricFamily(name, documentation, read(pool))


class PoolGauges:
    """The pool's figures as gauges written at each checkout, checkin, connect and close: in
    multiprocess mode a scrape cannot ask another process's pool, so each process keeps its
    own up to date, and the scrape sums the live ones."""

    def __init__(self, engine: AsyncEngine, registry: CollectorRegistry) -> None:
        self.pool = engine.pool
        self.gauges = {
            name: (
                Gauge(name, documentation, registry=registry, multiprocess_mode="livesum"),
                read,
            )
            for name, (documentation, read) in POOL_FIGURES.items()
        }
        for name in ("checkout", "checkin", "connect", "close"):
            event.listen(engine.sync_engine, name, self.update)
        self.update()  # the pool's size counts before its first connection

    def update(self, *_: Any) -> None:
        if isinstance(self.pool, QueuePool):
            for gauge, read in self.gauges.values():
                gauge.set(read(self.pool))


def make_metrics_registry(engine: AsyncEngine) -> CollectorRegistry:
    """Where this process's metrics are declared (and, with one process, read from)."""
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROCESS_DIRECTORY):
        PoolGauges(engine, registry)
    else:
        registry.register(DatabasePoolCollector(engine))
    return registry


def make_scrape_registry(registry: CollectorRegistry) -> CollectorRegistry:
    """What /metrics reads: this process's registry, or with several processes the sum over
    all of them, from the multiprocess directory."""
    directory = os.environ.get(MULTIPROCESS_DIRECTORY)
    if not directory:
        return registry
    everyone = CollectorRegistry()
    multiprocess.MultiProcessCollector(everyone, path=directory)  # type: ignore[no-untyped-call]
    return everyone
