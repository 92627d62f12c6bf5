"""Composition root: the root container, the explicit list of modules, and `create_app()`.

Serve with `uvicorn --factory main:create_app` (what `make run` does): nothing is built and
nothing connects at import time.
"""

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from dependency_injector import containers, providers
from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute
from redis.asyncio import Redis
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.middleware.cors import CORSMiddleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from modules.audit.module import module as audit
from modules.auth.container import AuthContainer
from modules.auth.module import module as auth
from modules.health.module import module as health
from modules.items.module import module as items
from modules.users.container import UsersContainer
from modules.users.module import module as users
from modules.users.public import UserDeleted
from shared.api.api_docs import install_api_docs
from shared.api.error_handlers import (
    ErrorEnvelope,
    UnhandledErrorMiddleware,
    error_responses,
    install_error_handlers,
)
from shared.api.openapi_schema import complete_schema
from shared.api.permissions import Permission, PermissionCatalog
from shared.api.provided import check_provided
from shared.data.db import ConnectionTurns, make_engine, make_session_factory
from shared.data.read_routing import ReadRouting
from shared.data.recent_writes import RecentWriters
from shared.data.redis_client import make_redis
from shared.data.replica import ReadReplica
from shared.edge.body_limit import BodySizeLimitMiddleware
from shared.edge.compression import CompressionMiddleware
from shared.edge.rate_limit import (
    RateLimitHeadersMiddleware,
    RateLimits,
    TokenOwner,
    enforce_rate_limit,
)
from shared.edge.request_id import RequestIdMiddleware
from shared.edge.security_headers import SecurityHeadersMiddleware
from shared.email import EmailDelivery, SendEmail, make_email_sender
from shared.jobs.messages import Handlers, TaskRegistry
from shared.jobs.metrics import JobMetrics
from shared.jobs.queue import JobQueue
from shared.jobs.schedules import Housekeeper, Schedule
from shared.jobs.worker import JobRunner, Worker, purge_job_history
from shared.module import Module, mount_module_containers, select_modules
from shared.observability.logs import configure_logging
from shared.observability.metrics import RequestMetrics, make_metrics_registry, make_scrape_registry
from shared.observability.request_telemetry import RequestTelemetryMiddleware
from shared.observability.tracing import make_tracer_provider, trace_requests, tracing_statements
from shared.personal_data import Exporter, Person, PersonalData
from shared.settings import Settings, load_settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

# Every module, in the order their routers are mounted. `make module name=…` adds one here;
# its container comes with its Module record (the ones wired to each other are below). A
# process loads those MODULES lists, all by default (loaded_modules).
MODULES: tuple[Module, ...] = (health, users, auth, items, audit)
OPENAPI_URL = "/openapi.json"
# The one entrypoint every job was queued under before each module had its own: a worker
# that loads every module takes those too, so no job queued by an earlier release is left
# behind by the upgrade.
EARLIER_ENTRYPOINT = "modulith"
# Tasks renamed by a release, with their name now: a job queued before the upgrade under the
# old name still runs.
RENAMED_TASKS = {
    # items' own subscriber became its eraser (README, "Personal data").
    "users.deleted:items.forget_idempotency_keys": "users.deleted:items.erase_personal_data",
}


def loaded_modules(settings: Settings) -> tuple[Module, ...]:
    """The modules this process serves and whose jobs it runs (MODULES); a name that is no
    module, or a module listed without one it depends on, is a ModuleSelectionError."""
    return select_modules(MODULES, settings.modules)


def every_schedule(modules: Iterable[Module]) -> list[Schedule]:
    """The kernel's housekeeping and that of `modules`."""
    kernel = Schedule("kernel.purge_job_history", "47 * * * *", purge_job_history)
    return [kernel, *(schedule for module in modules for schedule in module.schedules)]


def job_entrypoints(tasks: TaskRegistry, loaded: Iterable[Module]) -> list[str]:
    """Where this process's worker takes jobs from: every task owner but the modules it does
    not load (the kernel, the loaded modules, and an owner that is no module: a test's)."""
    not_loaded = {module.name for module in MODULES} - {module.name for module in loaded}
    entrypoints = sorted(tasks.owners - not_loaded)
    return entrypoints if not_loaded else [*entrypoints, EARLIER_ENTRYPOINT]


def declared_permissions() -> list[tuple[str, tuple[Permission, ...]]]:
    return [(module.name, module.permissions) for module in MODULES]


def task_registry(email_delivery: EmailDelivery, *extra: tuple[str, Handlers]) -> TaskRegistry:
    """The kernel's tasks, every module's (its handlers, and its eraser on `users.deleted`),
    and `extra` owners' (the modules' service handlers; tests add subscribers). Every
    module's, loaded or not: an event is queued for each subscriber, wherever it runs."""
    kernel: Handlers = {SendEmail: email_delivery.send_email}
    modules = ((module.name, module.handlers) for module in MODULES)
    erasers = (
        (module.name, _eraser_on_deletion(module.personal_data))
        for module in MODULES
        if module.personal_data is not None
    )
    return TaskRegistry([("kernel", kernel), *modules, *erasers, *extra], RENAMED_TASKS)


def _eraser_on_deletion(personal_data: PersonalData) -> Handlers:
    """A module's eraser, as its subscriber to `users.deleted` (a job of its own, at least
    once: erasers are idempotent)."""

    async def erase_personal_data(session: AsyncSession, event: UserDeleted) -> None:
        await personal_data.erase(session, Person(event.user_id, event.email))

    return {UserDeleted: erase_personal_data}


def every_exporter() -> list[tuple[str, Exporter]]:
    """Each module's exporter, in the order of MODULES: the sections of a person's archive."""
    return [(m.name, m.personal_data.export) for m in MODULES if m.personal_data is not None]


def app_tasks(email_delivery: EmailDelivery, root: "AppContainer") -> TaskRegistry:
    """The app's tasks: `task_registry`'s, with each module's service handlers bound to the
    root container's services."""
    bound = [
        (module.name, module.service_handlers(root))
        for module in MODULES
        if module.service_handlers is not None
    ]
    return task_registry(email_delivery, *bound)


def _recent_writers(
    settings: Settings, redis: Redis | None, token_owner: TokenOwner
) -> RecentWriters | None:
    """Read-your-writes, needed only with a replica (which settings allow only with Redis)."""
    if settings.database_read_url is None or redis is None:
        return None
    return RecentWriters(redis, settings, token_owner)


class AppContainer(containers.DeclarativeContainer):
    __self__ = providers.Self()
    settings = providers.Dependency(instance_of=Settings)
    # OpenTelemetry's, or None when tracing is off (shared/observability/tracing.py).
    tracer_provider: providers.Provider[Any] = providers.Object(None)
    engine = providers.Singleton(make_engine, settings)
    session_factory = providers.Singleton(make_session_factory, engine)
    connection_turns = providers.Singleton(ConnectionTurns, settings)
    redis = providers.Singleton(make_redis, settings)
    metrics_registry = providers.Singleton(make_metrics_registry, engine)
    metrics_scrape = providers.Singleton(make_scrape_registry, metrics_registry)
    request_metrics = providers.Singleton(RequestMetrics, metrics_registry)

    # Background work: the tasks of the kernel and of every module, the queue they are
    # written to, and the worker that does them.
    email_delivery = providers.Singleton(
        EmailDelivery, providers.Singleton(make_email_sender, settings)
    )
    tasks = providers.Singleton(app_tasks, email_delivery, __self__)
    job_metrics = providers.Singleton(JobMetrics, metrics_registry)
    jobs = providers.Singleton(
        JobQueue,
        tasks,
        job_metrics.provided.enqueued,
        traced=providers.Callable(lambda provider: provider is not None, tracer_provider),
    )
    job_timeout = providers.Callable(lambda s: timedelta(seconds=s.job_timeout_seconds), settings)
    job_runner = providers.Singleton(
        JobRunner, tasks, session_factory, job_timeout, tracer_provider
    )
    # The modules this process loads (MODULES): their routes, jobs and schedules.
    loaded = providers.Singleton(loaded_modules, settings)
    # Schedules are given the root container, to reach their module's providers.
    housekeeper = providers.Singleton(
        Housekeeper,
        providers.Callable(every_schedule, loaded),
        session_factory,
        __self__,
        job_timeout,
    )
    worker = providers.Singleton(
        Worker,
        settings,
        job_runner,
        job_metrics,
        housekeeper,
        providers.Callable(job_entrypoints, tasks, loaded),
    )

    # Every module's declared permissions (shared/api/permissions.py).
    permissions = providers.Singleton(PermissionCatalog, providers.Callable(declared_permissions))
    auth = providers.Container(
        AuthContainer,
        settings=settings,
        jobs=jobs,
        permissions=permissions,
        session_factory=session_factory,
    )
    users = providers.Container(
        UsersContainer,
        settings=settings,
        session_revoker=auth.login_sessions,
        account_mailer=auth.account_emails,
        two_factor_switch=auth.two_factor,
        password_attempts=auth.password_attempts,
        jobs=jobs,
        permissions=permissions,
        exporters=providers.Callable(every_exporter),
    )
    # The kernel's authentication slot (shared/api/auth.py), filled by the auth module.
    authenticator = auth.authenticator
    # Counts requests by the user of a valid access token, or the API key (else by address).
    rate_limits = providers.Singleton(RateLimits, settings, token_owner=auth.rate_limit_owners)

    # Where a request's session reads: the primary, or the replica of DATABASE_READ_URL.
    replica = providers.Singleton(ReadReplica, settings, metrics_registry)
    recent_writers = providers.Singleton(
        _recent_writers, settings, redis, token_owner=auth.rate_limit_owners
    )
    read_routing = providers.Singleton(
        ReadRouting,
        session_factory.provider,  # the provider: called per session, as tests override it
        connection_turns,
        replica,
        recent_writers,
        metrics_registry,
    )


@asynccontextmanager
async def _running_worker(worker: Worker) -> AsyncIterator[None]:
    """The API process's own worker (WORKER_IN_PROCESS), stopped with the app: the jobs under
    way finish first."""
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop), name="job-worker")
    try:
        yield
    finally:
        stop.set()
        await task


def _operation_id(route: APIRoute) -> str:
    # "{tag}-{handler}" reads well in generated clients: health-get_ready, items-create_item.
    return f"{route.tags[0]}-{route.name}" if route.tags else route.name


def build_container(
    settings: Settings, tracer_provider: "TracerProvider | None" = None
) -> AppContainer:
    """The root container, with every module's own container mounted on it."""
    container = AppContainer(settings=providers.Object(settings))
    container.tracer_provider.override(providers.Object(tracer_provider))
    mount_module_containers(container, MODULES)
    return container


def create_app(
    settings: Settings | None = None, *, tracer_provider: "TracerProvider | None" = None
) -> FastAPI:
    """The app. `tracer_provider` replaces the one OTEL_EXPORTER_OTLP_ENDPOINT would make
    (tests pass one with the SDK's in-memory exporter)."""
    settings = settings or load_settings()
    tracer_provider = tracer_provider or make_tracer_provider(settings)
    configure_logging(settings.log_level, settings.log_format, tracing=tracer_provider is not None)

    container = build_container(settings, tracer_provider)
    served = container.loaded()  # MODULES: only these are served
    container.check_dependencies()
    check_provided(container)  # every Depends(provided("…")) names a provider

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if settings.rate_limit_enabled:
            # slowapi's set-up (it reads .env, builds its storage) at start-up, not inside
            # the first request.
            container.rate_limits()
        async with AsyncExitStack() as modules:
            if tracer_provider is not None:
                engines = [container.engine(), container.replica().engine]
                traced = [engine for engine in engines if engine is not None]
                modules.enter_context(tracing_statements(traced, tracer_provider))
                modules.callback(tracer_provider.shutdown)  # the last spans are sent
            await modules.enter_async_context(container.replica().watched())
            for module in served:
                if module.lifespan is not None:
                    await modules.enter_async_context(module.lifespan(container))
            if settings.worker_in_process:
                await modules.enter_async_context(_running_worker(container.worker()))
            yield
        redis = container.redis()
        if redis is not None:
            await redis.aclose()
        await container.engine().dispose()

    app = FastAPI(
        title="modulith",
        version="0.1.0",
        lifespan=lifespan,
        redirect_slashes=False,
        # Served by install_api_docs below, offline: FastAPI's own pages load from a CDN.
        docs_url=None,
        redoc_url=None,
        openapi_url=OPENAPI_URL if settings.docs_enabled else None,
        generate_unique_id_function=_operation_id,
        # Relative: the schema describes the server it is served by, wherever that is.
        servers=[{"url": "/", "description": "The server serving this schema"}],
        # Metrics are Prometheus (shared/observability/metrics.py). FastAPI's own OpenTelemetry
        # hooks would look for configured providers on every request; turn them on here to use
        # them.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        # Every route may answer with the envelope; routes declare their specific errors.
        responses={500: {"model": ErrorEnvelope, "description": "Unexpected failure"}},
    )
    app.state.container = container

    install_error_handlers(app)
    # The kernel's answers and headers, and the permissions, on every route's schema.
    complete_schema(app, container.permissions())
    # Added innermost first. From the outside in: the client's real address (X-Forwarded-For
    # believed only from TRUSTED_PROXIES), the request id, the security headers, telemetry,
    # CORS and compression (so error responses get them too), the catch-all 500, the
    # rate-limit headers, the body limit.
    app.add_middleware(BodySizeLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(RateLimitHeadersMiddleware)
    app.add_middleware(UnhandledErrorMiddleware)
    app.add_middleware(CompressionMiddleware, minimum_size=1024)
    if settings.allowed_origins:  # no origin allowed: no CORS headers to add, ever
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.allowed_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            # Bearer tokens, not cookies: no credentials mode.
            expose_headers=[
                "ETag",
                "Location",
                "X-Request-ID",
                "Retry-After",
                "X-RateLimit-Limit",
                "X-RateLimit-Remaining",
                "X-RateLimit-Reset",
            ],
        )
    app.add_middleware(RequestTelemetryMiddleware, metrics=container.request_metrics())
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.environment == "production")
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    if tracer_provider is not None:
        trace_requests(app, tracer_provider)  # outermost: the span times all of the above

    for module in served:
        if module.rate_limited and settings.rate_limit_enabled:
            app.include_router(
                module.router,
                prefix=module.prefix,
                dependencies=[Depends(enforce_rate_limit(settings))],
                responses=error_responses(429),
            )
        else:
            app.include_router(module.router, prefix=module.prefix)
    if settings.docs_enabled:  # after the API: routes are matched in turn, the API's first
        install_api_docs(app, OPENAPI_URL)
    return app
