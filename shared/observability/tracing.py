"""OpenTelemetry tracing (README, "Probes, logs and metrics"), off unless
OTEL_EXPORTER_OTLP_ENDPOINT is set.

On, every request is a server span (OpenTelemetry's ASGI instrumentation: a W3C
`traceparent` header continues the caller's trace), every database statement a client span
(its SQLAlchemy instrumentation), and every job a consumer span in the trace of the request
that queued it (the job's headers carry `traceparent`). Log lines carry `trace_id`. Spans go
to the OTLP/HTTP endpoint in batches, from a background thread.

Off, none of it is installed: no middleware, no engine hook, no log processor, no header.
"""

import os
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from opentelemetry import propagate, trace
from sqlalchemy.ext.asyncio import AsyncEngine
from structlog.typing import EventDict, WrappedLogger

from ..settings import Settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

# The SDK, the exporter and the instrumentations are imported only when tracing is on: off,
# they cost no start-up time either.

# Probes are polled every few seconds: spans of them would bury the requests that matter.
UNTRACED_PATHS = "/health,/ready,/metrics"
EXPORT_TIMEOUT_SECONDS = 10


def make_tracer_provider(settings: Settings) -> "TracerProvider | None":
    """The provider exporting to OTEL_EXPORTER_OTLP_ENDPOINT, or None when it is unset.
    The standard OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES apply."""
    endpoint = settings.otel_exporter_otlp_endpoint
    if not endpoint:
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    service = os.environ.get("OTEL_SERVICE_NAME", "modulith")
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
    exporter = OTLPSpanExporter(
        endpoint=f"{endpoint.rstrip('/')}/v1/traces", timeout=EXPORT_TIMEOUT_SECONDS
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def trace_requests(app: FastAPI, provider: "TracerProvider") -> None:
    """Every request a server span, outermost, so it times everything the app does."""
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    app.add_middleware(
        OpenTelemetryMiddleware, tracer_provider=provider, excluded_urls=UNTRACED_PATHS
    )


@contextmanager
def tracing_statements(
    engines: Sequence[AsyncEngine], provider: "TracerProvider"
) -> Iterator[None]:
    """Every statement on `engines` (the primary's, the replica's) a span, while the block
    runs (the app's lifespan)."""
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    instrumentor = SQLAlchemyInstrumentor()
    instrumentor.instrument(
        engines=[engine.sync_engine for engine in engines], tracer_provider=provider
    )
    try:
        yield
    finally:
        instrumentor.uninstrument()


def carry_trace(headers: MutableMapping[str, str]) -> None:
    """Put the current trace's `traceparent` into a job's headers."""
    propagate.inject(headers)


@contextmanager
def job_span(
    provider: "TracerProvider", task: str, headers: Mapping[str, Any] | None
) -> Iterator[None]:
    """A consumer span for one run of a job, in the trace its headers carry."""
    parent = propagate.extract(dict(headers or {}))
    tracer = provider.get_tracer("modulith.jobs")
    with tracer.start_as_current_span(
        f"job {task}",
        context=parent,
        kind=trace.SpanKind.CONSUMER,
        attributes={"messaging.system": "pgqueuer", "messaging.operation": "process"},
    ):
        yield


def add_trace_id(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """structlog processor: the current span's trace id on every line logged inside one."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict.setdefault("trace_id", format(context.trace_id, "032x"))
    return event_dict
