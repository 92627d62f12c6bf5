"""Prometheus metrics, held in a registry per app (tests build many apps in one process)."""

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool


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
            "http_requests_in_flight", "Requests being served right now.", registry=registry
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


class DatabasePoolCollector(Collector):
    """Reads the engine's connection pool at scrape time."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        pool = self.engine.pool
        if not isinstance(pool, QueuePool):
            return
        yield GaugeMetricFamily("db_pool_size", "Connections the pool keeps open.", pool.size())
        yield GaugeMetricFamily(
            "db_pool_checked_out", "Pooled connections in use right now.", pool.checkedout()
        )
        yield GaugeMetricFamily(
            "db_pool_checked_in", "Idle connections in the pool.", pool.checkedin()
        )
        yield GaugeMetricFamily(
            "db_pool_overflow",
            "Connections open beyond the pool size.",
            max(pool.overflow(), 0),  # SQLAlchemy counts up from -pool_size
        )


def make_metrics_registry(engine: AsyncEngine) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(DatabasePoolCollector(engine))
    return registry
