"""Prometheus metrics of background work, in the app's registry.

Counters are per process (a scrape of several processes adds them up); the backlog gauges
are read from the queue table at scrape time, so every process reports the same backlog.
"""

from prometheus_client import CollectorRegistry, Counter, Gauge
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from .queue import ENTRYPOINT

_BACKLOG = text(
    """
    SELECT count(*) FILTER (WHERE status = 'queued') AS pending,
           count(*) FILTER (WHERE status = 'failed') AS failed,
           coalesce(extract(epoch FROM now() - min(execute_after)
                    FILTER (WHERE status = 'queued' AND execute_after <= now())), 0) AS oldest
    FROM pgqueuer WHERE entrypoint = :entrypoint
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
        self.pending = Gauge("jobs_pending", "Jobs waiting in the queue.", registry=registry)
        self.failed_held = Gauge(
            "jobs_failed_held", "Failed jobs kept for `manage.py jobs retry`.", registry=registry
        )
        self.oldest_pending_age = Gauge(
            "jobs_oldest_pending_age_seconds",
            "How long the longest-waiting job that is due has waited (0 when none is).",
            registry=registry,
        )

    async def read_backlog(self, engine: AsyncEngine) -> None:
        """Refresh the backlog gauges from the queue table (before a scrape)."""
        async with engine.connect() as connection:
            row = (await connection.execute(_BACKLOG, {"entrypoint": ENTRYPOINT})).one()
        self.pending.set(row.pending)
        self.failed_held.set(row.failed)
        self.oldest_pending_age.set(float(row.oldest))

    def mark_backlog_unknown(self) -> None:
        """The queue could not be read: report NaN rather than a stale figure."""
        for gauge in (self.pending, self.failed_held, self.oldest_pending_age):
            gauge.set(float("nan"))
