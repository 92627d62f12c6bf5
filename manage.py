"""Operational commands behind the Makefile: serve (run, dev), worker, jobs, migrate,
create-superuser.

Settings are validated first, so a bad configuration stops here with one line.
"""

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import structlog
from fastapi_users.exceptions import InvalidPasswordException

from main import MODULES, build_container, create_app, loaded_modules
from modules.users.public import ensure_superuser
from shared.data.db import connect_asyncpg
from shared.data.provisioning import (
    DATABASE_ERRORS,
    check_reachable,
    create_database_if_missing,
    database_error_line,
    upgrade_to_head,
)
from shared.jobs import admin as job_admin
from shared.jobs.metrics import serve_worker_metrics
from shared.module import ModuleSelectionError
from shared.observability.logs import configure_logging
from shared.observability.tracing import make_tracer_provider
from shared.serving.run import serve_development, serve_production
from shared.settings import Settings, load_settings

logger = structlog.get_logger("manage")
ROOT = Path(__file__).resolve().parent


def require_database(settings: Settings) -> None:
    """For commands that do not migrate: stop with one line if the database cannot be used."""
    try:
        asyncio.run(check_reachable(settings.database))
    except DATABASE_ERRORS as error:
        sys.exit(database_error_line(settings.database, error))


def migrate(settings: Settings) -> None:
    """Create the database if missing and migrate it; one line and exit 1 if it cannot be."""
    try:
        if asyncio.run(create_database_if_missing(settings.database)):
            logger.info("database_created", database=settings.database.database)
        upgrade_to_head(settings.database)
    except DATABASE_ERRORS as error:
        sys.exit(database_error_line(settings.database, error))
    logger.info("database_migrated", database=settings.database.database)


def serve(settings: Settings, *, reload: bool, skip_migrations: bool) -> None:
    if skip_migrations:
        require_database(settings)
    else:
        migrate(settings)
    base = f"http://{settings.host}:{settings.port}"
    if settings.docs_enabled:
        print(f"API docs: {base}/docs (ReDoc: {base}/redoc)", flush=True)
    if settings.environment == "production" and not reload:
        sys.exit(serve_production(settings))
    # After a graceful shutdown uvicorn re-raises the SIGTERM it caught, under the handler
    # that was installed before it. With this no-op one the process then exits 0, which
    # process managers read as the clean stop it was.
    signal.signal(signal.SIGTERM, lambda *_: None)
    serve_development(settings, reload=reload)


def worker(settings: Settings) -> None:
    """Process background jobs until SIGTERM or Ctrl-C; the jobs under way finish first.
    Once started, it rides out database outages, reconnecting."""
    require_database(settings)
    tracer_provider = make_tracer_provider(settings)  # None unless OTEL_EXPORTER_OTLP_ENDPOINT
    container = build_container(settings, tracer_provider)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        if settings.worker_metrics_port:
            serve_worker_metrics(
                container.metrics_registry(),
                container.job_metrics(),
                container.engine(),
                settings.host,
                settings.worker_metrics_port,
            )
            logger.info(
                "worker_metrics", url=f"http://{settings.host}:{settings.worker_metrics_port}/"
            )
        try:
            await container.worker().run(stop)
        finally:
            await container.engine().dispose()
            if tracer_provider is not None:
                tracer_provider.shutdown()  # the last spans are sent

    asyncio.run(run())


def jobs(settings: Settings, *, retry: list[int] | None, all_failed: bool) -> None:
    """List the backlog and the failed jobs, or put failed jobs back in the queue."""

    async def run() -> None:
        try:
            connection = await connect_asyncpg(settings.database)
        except DATABASE_ERRORS as error:
            sys.exit(database_error_line(settings.database, error))
        try:
            if retry is not None or all_failed:
                requeued = await job_admin.retry(connection, None if all_failed else retry)
                missing = sorted(set(retry or []) - set(requeued))
                print(f"Queued again: {', '.join(map(str, requeued)) or 'none'}")
                if missing:
                    sys.exit(f"Not failed jobs (left alone): {', '.join(map(str, missing))}")
                return
            backlog = await job_admin.backlog(connection)
            print(f"{'task':<50} {'status':<8} {'jobs':>6}")
            for task, status, count in backlog or [("(no pending or failed jobs)", "", 0)]:
                print(f"{task:<50} {status:<8} {count:>6}")
            failed = await job_admin.failed_jobs(connection)
            if failed:
                print(f"\nFailed ({len(failed)}); `manage.py jobs retry ID` puts one back:")
                for job in failed:
                    print(
                        f"  {job.id:>8}  {job.task}  {job.attempts} attempts, "
                        f"last {job.failed_at:%Y-%m-%d %H:%M:%S}Z  {job.error}"
                    )
        finally:
            await connection.close()

    asyncio.run(run())


def docs(*, check: bool) -> None:
    """Write docs/modules.md from the code; with `check`, only say whether it is stale."""
    from devtools.module_map import render  # development tools: not in the production image

    target = ROOT / "docs" / "modules.md"
    text = render(MODULES, ROOT)
    if check:
        if not target.exists() or target.read_text() != text:
            sys.exit("docs/modules.md is stale: run `make docs` and commit it")
        return
    target.parent.mkdir(exist_ok=True)
    target.write_text(text)
    print(f"Wrote {target.relative_to(ROOT)}")


def module(name: str, entity: str | None) -> None:
    """Scaffold and register a module, then format it and refresh docs/modules.md."""
    from devtools.generate import GeneratorError, generate  # not in the production image

    try:
        written = generate(ROOT, name, entity)
    except GeneratorError as error:
        sys.exit(f"module: {error}")
    python_files = [str(path) for path in written if path.suffix == ".py"]
    format_ = ["ruff", "format", "--quiet"]
    for tool in (format_, ["ruff", "check", "--fix", "--quiet"], format_):
        # Our own tools on the files just written: no untrusted input.
        subprocess.run([sys.executable, "-m", *tool, *python_files], cwd=ROOT, check=True)  # noqa: S603
    # A new process: this one imported main.py before the module was added to it.
    subprocess.run([sys.executable, "manage.py", "docs"], cwd=ROOT, check=True)
    for path in written:
        print(f"  {path.relative_to(ROOT)}")
    print(f"Module {name} created and registered; `make test M={name}` runs its tests.")


def create_superuser(settings: Settings, email: str, password: str) -> None:
    """Create a verified superuser, or leave an existing account with that e-mail as it is."""
    migrate(settings)
    container = build_container(settings)

    async def run() -> bool:
        try:
            return await ensure_superuser(
                container.session_factory(),
                container.users.user_manager,
                email=email,
                password=password,
            )
        finally:
            await container.engine().dispose()

    try:
        created = asyncio.run(run())
    except InvalidPasswordException as error:
        sys.exit(f"Password refused: {error.reason}")
    print(f"Superuser {email} created." if created else f"{email} already exists; left unchanged.")


def main() -> None:
    parser = argparse.ArgumentParser(prog="manage.py", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser(
        "serve", help="create and migrate the database if needed, then serve the API"
    )
    serve_parser.add_argument("--reload", action="store_true", help="restart on code changes")
    serve_parser.add_argument(
        "--skip-migrations",
        action="store_true",
        help="serve as is (a separate job migrates, as in compose.yaml)",
    )
    commands.add_parser("worker", help="process background jobs until SIGTERM (any number)")
    jobs_parser = commands.add_parser(
        "jobs", help="list pending and failed jobs; `jobs retry ID...|--all-failed`"
    )
    jobs_actions = jobs_parser.add_subparsers(dest="action")
    retry_parser = jobs_actions.add_parser("retry", help="put failed jobs back in the queue")
    retry_parser.add_argument("ids", nargs="*", type=int, metavar="ID")
    retry_parser.add_argument("--all-failed", action="store_true", help="every failed job")
    commands.add_parser("migrate", help="create the database if missing, then migrate to head")
    module_parser = commands.add_parser("module", help="scaffold and register a new module")
    module_parser.add_argument("name", help="lower-case plural noun, e.g. orders")
    module_parser.add_argument("--entity", help="the singular (default: name without its s)")
    commands.add_parser(
        "openapi", help="print the OpenAPI schema (JSON), as /openapi.json serves it"
    )
    docs_parser = commands.add_parser("docs", help="write docs/modules.md from the code")
    docs_parser.add_argument("--check", action="store_true", help="fail if it is stale")
    superuser_parser = commands.add_parser(
        "create-superuser", help="create a verified superuser (never overwrites an account)"
    )
    superuser_parser.add_argument("--email", required=True)
    superuser_parser.add_argument(
        "--password", help="default: the SUPERUSER_PASSWORD environment variable"
    )
    args = parser.parse_args()

    settings = load_settings()
    try:
        loaded_modules(settings)
    except ModuleSelectionError as error:
        sys.exit(f"Configuration error: {error}")
    configure_logging(
        settings.log_level, settings.log_format, tracing=bool(settings.otel_exporter_otlp_endpoint)
    )
    if args.command == "serve":
        serve(settings, reload=args.reload, skip_migrations=args.skip_migrations)
    elif args.command == "module":
        module(args.name, args.entity)
    elif args.command == "docs":
        docs(check=args.check)
    elif args.command == "openapi":
        quiet = settings.model_copy(update={"log_level": "WARNING"})  # stdout is the schema
        print(json.dumps(create_app(quiet).openapi(), indent=2))
    elif args.command == "worker":
        worker(settings)
    elif args.command == "jobs":
        if args.action == "retry" and not (args.ids or args.all_failed):
            sys.exit("jobs retry: give job ids or --all-failed")
        jobs(
            settings,
            retry=args.ids if args.action == "retry" else None,
            all_failed=args.action == "retry" and args.all_failed,
        )
    elif args.command == "create-superuser":
        password = args.password or os.environ.get("SUPERUSER_PASSWORD")
        if not password:
            sys.exit("create-superuser: give --password or set SUPERUSER_PASSWORD")
        create_superuser(settings, args.email, password)
    else:
        migrate(settings)


if __name__ == "__main__":
    main()
