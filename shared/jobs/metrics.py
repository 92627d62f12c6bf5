"""Prometheus metrics of background work, in the app's registry.

Counters are per process (a scrape of several processes adds them up); the backlog gauges
are read from the queue table at scrape time, so every process reports the same backlog.
"""

import asyncio
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

_BACKLOG = text(
    """
    SELECT count(*) FILTER (WHERE status = 'queued') AS pending,
           count(*) FILTER (WHERE status = 'failed') AS failed,
           coalesce(extract(epoch FROM now() - min(execute_after)
                    FILTER (WHERE status = 'queued' AND execute_after <= now())), 0) AS oldest
    FROM pgqueuer
    """
)


class JobMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.enqueued = Counter(
            "jobs_enqueued",
            "Jobs written to the queue, by task (a transaction rolled back takes its jobs back).",
            ["task"],
            registry=registry,
        )
        self.succeeded = Counter(
            "jobs_succeeded", "Jobs whose handler returned, by task.", ["task"], registry=registry
        )
        self.failed = Counter(
            "jobs_failed",
            "Jobs kept as failed (out of attempts, or unrunnable), by task.",
            ["task"],
            registry=registry,
        )
        self.retried = Counter(
            "jobs_retried",
            "Attempts that failed and were put back with a back-off, by task.",
            ["task"],
            registry=registry,
        )
        # Read from the queue table: every process reports the same, the newest read wins.
        self.pending = Gauge(
            "jobs_pending",
            "Jobs waiting in the queue.",
            registry=registry,
            multiprocess_mode="livemostrecent",
        )
        self.failed_held = Gauge(
            "jobs_failed_held",
            "Failed jobs kept for `manage.py jobs retry`.",
            registry=registry,
            multiprocess_mode="livemostrecent",
        )
        self.oldest_pending_age = Gauge(
            "jobs_oldest_pending_age_seconds",
            "How long the longest-waiting job that is due has waited (0 when none is).",
            registry=registry,
            multiprocess_mode="livemostrecent",
        )

    async def read_backlog(self, engine: AsyncEngine) -> None:
        """Refresh the backlog gauges from the queue table (before a scrape)."""
        async with engine.connect() as connection:
            row = (await connection.execute(_BACKLOG)).one()
        self.pending.set(row.pending)
        self.failed_held.set(row.failed)
        self.oldest_pending_age.set(float(row.oldest))

    def mark_backlog_unknown(self) -> None:
        """The queue could not be read: report NaN rather than a stale figure."""
        for gauge in (self.pending, self.failed_held, self.oldest_pending_age):
            gauge.set(float("nan"))


class _BacklogFirst(Collector):
    """A registry whose scrape, in the metrics server's thread, first reads the backlog on
    the worker's event loop (where the database connections live)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        metrics: JobMetrics,
        engine: AsyncEngine,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.registry, self.metrics, self.engine, self.loop = registry, metrics, engine, loop

    def collect(self) -> Iterator[Metric]:
        read = asyncio.run_coroutine_threadsafe(self.metrics.read_backlog(self.engine), self.loop)
        try:
            read.result(timeout=2)
        except Exception:  # a scrape still answers, with the backlog unknown
            read.cancel()
            self.metrics.mark_backlog_unknown()
        yield from self.registry.collect()


def serve_worker_metrics(
    registry: CollectorRegistry, metrics: JobMetrics, engine: AsyncEngine, host: str, port: int
) -> None:
    """Prometheus text on http://host:port/ for a worker process, which serves no API
    (prometheus-client's own server, in a daemon thread)."""
    loop = asyncio.get_running_loop()
    start_http_server(port, addr=host, registry=_BacklogFirst(registry, metrics, engine, loop))
