"""OpenTelemetry tracing, with the SDK's in-memory exporter in place of OTLP: a request, its
database statements and the job it queued are spans of one trace, which the caller's
`traceparent` started; log lines carry its trace_id. Off (no OTEL_EXPORTER_OTLP_ENDPOINT),
nothing of it is installed."""

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.observability.tracing import make_tracer_provider
from shared.settings import Settings
from tests.accounts import create_account
from tests.conftest import build_app, capture_logs, delivered, forget_committed_user, http_client

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@dataclass
class Traced:
    app: FastAPI
    client: httpx.AsyncClient
    spans: InMemorySpanExporter

    def in_trace(self) -> list[ReadableSpan]:
        return [
            span
            for span in self.spans.get_finished_spans()
            if span.context is not None and format(span.context.trace_id, "032x") == TRACE_ID
        ]


@pytest.fixture
async def traced(settings: Settings, engine: AsyncEngine) -> AsyncIterator[Traced]:
    """The app with real sessions on its own (traced) engine: its requests really commit."""
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    app = build_app(settings, tracer_provider=provider)
    try:
        async with app.router.lifespan_context(app), http_client(app) as client:
            yield Traced(app, client, spans)
    finally:
        await forget_committed_user(engine, "email LIKE 'traced-%'")


async def test_a_request_its_statements_and_its_job_are_one_trace(
    traced: Traced, engine: AsyncEngine
) -> None:
    account = await create_account(traced.client, "traced")
    with capture_logs() as logs:
        answer = await traced.client.post(
            "/api/v1/auth/forgot-password",
            json={"email": account.email},
            headers={"traceparent": TRACEPARENT},
        )
        assert answer.status_code == 202
        async with engine.connect() as queue:
            # The job carries the trace in its headers, and runs as a span of it.
            headers = (await queue.execute(text("SELECT headers FROM pgqueuer"))).scalars()
            assert any(TRACE_ID in str(row.get("traceparent")) for row in headers)
            await delivered(traced.app, queue)
            await queue.commit()

    spans = traced.in_trace()
    server = [s for s in spans if s.kind is SpanKind.SERVER]
    statements = [s for s in spans if (s.attributes or {}).get("db.system") == "postgresql"]
    jobs = [s for s in spans if s.kind is SpanKind.CONSUMER]
    assert [s.name for s in server] == ["POST /api/v1/auth/forgot-password"]
    assert statements  # the request's own, on the app's engine
    # Its job (the e-mail) too.
    assert [s.name for s in jobs] == ["job email.send"]
    access = [line for line in logs.named("app.access") if line.get("path") == answer.url.path]
    assert [line.get("trace_id") for line in access] == [TRACE_ID]


async def test_probes_make_no_spans(traced: Traced) -> None:
    for probe in ("/health", "/ready", "/metrics"):
        assert (await traced.client.get(probe)).status_code == 200
    assert [s for s in traced.spans.get_finished_spans() if s.kind is SpanKind.SERVER] == []


async def test_tracing_is_off_without_an_endpoint_and_installs_nothing(
    app: FastAPI, client: httpx.AsyncClient, connection: AsyncConnection, settings: Settings
) -> None:
    assert settings.otel_exporter_otlp_endpoint is None
    assert make_tracer_provider(settings) is None
    assert "OpenTelemetryMiddleware" not in [
        getattr(m.cls, "__name__", "") for m in app.user_middleware
    ]
    assert app.state.container.tracer_provider() is None
    account = await create_account(client, "untraced")
    answer = await client.post(
        "/api/v1/auth/forgot-password",
        json={"email": account.email},
        headers={"traceparent": TRACEPARENT},
    )
    assert answer.status_code == 202
    headers = await connection.execute(text("SELECT headers FROM pgqueuer"))
    assert all("traceparent" not in row.headers for row in headers)


def test_an_endpoint_makes_an_otlp_exporting_provider(settings: Settings) -> None:
    with_endpoint = settings.model_copy(
        update={"otel_exporter_otlp_endpoint": "http://127.0.0.1:4318"}
    )
    provider = make_tracer_provider(with_endpoint)
    assert isinstance(provider, TracerProvider)
    provider.shutdown()
