"""Liveness, readiness and metrics probes, served at the root without auth."""

import asyncio
import hmac
from collections.abc import Awaitable
from typing import Annotated, Any, Literal

import structlog
from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel, Field
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.api.error_handlers import ErrorBody, error_responses
from shared.api.provided import provided
from shared.api.route import ModuleRoute
from shared.data.replica import ReadReplica
from shared.edge.request_id import request_id_var
from shared.errors import ServiceUnavailable, Unauthorized
from shared.jobs.metrics import JobMetrics
from shared.serving.drain import is_draining
from shared.settings import Settings

# A probe that answers late is as good as down; load balancers poll often.
CHECK_TIMEOUT_SECONDS = 2.0

CheckResult = Literal["ok", "error", "disabled", "lagging"]
logger = structlog.get_logger(__name__)
router = APIRouter(tags=["health"], route_class=ModuleRoute)


class Liveness(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready", "unavailable"] = Field(examples=["ready"])
    checks: dict[str, CheckResult] = Field(
        examples=[{"database": "ok", "redis": "ok", "replica": "disabled"}],
        description="`replica` (the read replica, `DATABASE_READ_URL`) is informative: reads "
        'go to the primary while it is `"lagging"` or `"error"`, and it never makes the '
        "process unready.",
    )
    error: ErrorBody | None = Field(
        default=None, description="The standard error envelope, present when unavailable."
    )


async def _check(name: str, probe: Awaitable[Any]) -> CheckResult:
    try:
        await asyncio.wait_for(probe, CHECK_TIMEOUT_SECONDS)
    except Exception as error:  # any failure, including the timeout, means "not ready"
        logger.warning("readiness_check_failed", check=name, error=repr(error))
        return "error"
    return "ok"


async def _ping_database(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


@router.get(
    "/health",
    summary="Liveness: the process is serving",
    description="Touches nothing external, so a slow database never restarts the process.",
)
async def get_health() -> Liveness:
    return Liveness()


@router.get(
    "/ready",
    summary="Readiness: the database and Redis answer",
    description=f"Each check is bounded by {CHECK_TIMEOUT_SECONDS:g} s; Redis reports "
    '`"disabled"` when `REDIS_URL` is unset. The read replica is reported as last polled '
    '(every second): `"ok"`, `"lagging"` (more than `REPLICA_MAX_LAG_SECONDS` behind), '
    '`"error"` or `"disabled"`; it never makes the process unready. After SIGTERM it answers '
    "503 at once, while requests are still served for `SHUTDOWN_DRAIN_SECONDS`.",
    responses={503: {"model": Readiness, "description": "A dependency failed its check"}},
    response_model_exclude_none=True,
)
async def get_ready(
    response: Response,
    engine: Annotated[AsyncEngine, Depends(provided("engine"))],
    redis: Annotated[Redis | None, Depends(provided("redis"))],
    replica: Annotated[ReadReplica, Depends(provided("replica"))],
) -> Readiness:
    if is_draining():  # SIGTERM came: tell the load balancer first, the requests still served
        response.status_code = 503
        return _unavailable({}, "Shutting down: draining before the stop")
    probes: dict[str, Awaitable[Any]] = {"database": _ping_database(engine)}
    if redis is not None:
        probes["redis"] = redis.ping()
    results = await asyncio.gather(*(_check(name, probe) for name, probe in probes.items()))
    checks: dict[str, CheckResult] = {"database": "error", "redis": "disabled"}
    checks.update(zip(probes, results, strict=True))
    failed = ", ".join(name for name, result in checks.items() if result == "error")
    # Reads fall back to the primary: the replica's state is news, never a reason to stop.
    checks["replica"] = replica.state
    if not failed:
        return Readiness(status="ready", checks=checks)
    response.status_code = 503
    return _unavailable(checks, f"Not ready: {failed} failed")


def _unavailable(checks: dict[str, CheckResult], detail: str) -> Readiness:
    return Readiness(
        status="unavailable",
        checks=checks,
        error=ErrorBody(
            code=ServiceUnavailable.code, detail=detail, request_id=request_id_var.get()
        ),
    )


async def metrics_access(
    request: Request, settings: Annotated[Settings, Depends(provided("settings"))]
) -> None:
    """With METRICS_TOKEN set, only `Authorization: Bearer <METRICS_TOKEN>` reads /metrics."""
    if settings.metrics_token is None:
        return
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    expected = settings.metrics_token.get_secret_value()
    # Compared in constant time: the answer's timing must not reveal the token bit by bit.
    if scheme.lower() != "bearer" or not hmac.compare_digest(presented.encode(), expected.encode()):
        raise Unauthorized("/metrics needs the METRICS_TOKEN bearer token")


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    description="Request count, latency and in-flight requests by route template; DB pool; "
    "jobs enqueued, succeeded, retried and failed by task, and the job backlog. With several "
    "worker processes, the sum over all of them. With `METRICS_TOKEN` set, only with "
    "`Authorization: Bearer <METRICS_TOKEN>`.",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
        **error_responses(401),
    },
    dependencies=[Depends(metrics_access)],
)
async def get_metrics(
    registry: Annotated[CollectorRegistry, Depends(provided("metrics_scrape"))],
    job_metrics: Annotated[JobMetrics, Depends(provided("job_metrics"))],
    engine: Annotated[AsyncEngine, Depends(provided("engine"))],
) -> Response:
    # The job backlog is read from the queue table: the same figures from every process.
    if await _check("job_backlog", job_metrics.read_backlog(engine)) == "error":
        job_metrics.mark_backlog_unknown()
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
