"""Module slicing (MODULES): which modules a process loads, what each must be loaded with,
and an app that serves only its modules. The worker's side, with real processes, is in
tests/jobs/test_sliced_workers.py."""

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection

from devtools.module_map import imported_modules
from main import MODULES, job_entrypoints, task_registry
from shared.email import ConsoleEmailSender, EmailDelivery
from shared.module import Module, ModuleSelectionError, select_modules
from tests.accounts import create_account
from tests.conftest import bind_to_connection, build_app, http_client, make_settings
from tests.test_ownership import declared_dependencies

ROOT = Path(__file__).resolve().parents[1]
NAMES = [module.name for module in MODULES]


def names(modules: tuple[Module, ...]) -> list[str]:
    return [module.name for module in modules]


def test_every_module_is_loaded_unless_modules_says_otherwise() -> None:
    assert names(select_modules(MODULES, None)) == NAMES
    # In the order of MODULES, whatever the order of the setting.
    listed = ["audit", "auth", "users", "health"]
    assert names(select_modules(MODULES, listed)) == ["health", "users", "auth", "audit"]
    assert names(select_modules(MODULES, ["audit"])) == ["audit"]


def test_a_name_that_is_no_module_is_one_line_naming_the_setting() -> None:
    with pytest.raises(ModuleSelectionError) as refused:
        select_modules(MODULES, ["health", "orders"])
    assert str(refused.value) == (
        "MODULES: no module is named 'orders' (the modules: health, users, auth, items, audit)"
    )


def test_a_module_listed_without_what_it_depends_on_is_one_line() -> None:
    with pytest.raises(ModuleSelectionError) as refused:
        select_modules(MODULES, ["health", "items"])
    assert str(refused.value) == (
        "MODULES: items needs users, which is not listed (its Module.depends_on)"
    )
    with pytest.raises(ModuleSelectionError) as refused:
        select_modules(MODULES, ["users", "items"])
    assert "users needs auth, which is not listed; users needs audit" in str(refused.value)


def test_each_module_depends_on_the_modules_it_imports_and_references() -> None:
    """What `depends_on` must hold: the modules whose public.py it imports, and those its
    migrations depend on (a foreign key into their tables)."""
    by_migrations = declared_dependencies()
    missing = {
        module.name: sorted(
            (imported_modules(module, ROOT, set(NAMES)) | by_migrations.get(module.name, set()))
            - set(module.depends_on)
        )
        for module in MODULES
    }
    assert {name: what for name, what in missing.items() if what} == {}
    assert {module.name: module.depends_on for module in MODULES}["items"] == ("users",)


def test_a_worker_takes_the_jobs_of_the_kernel_and_of_the_modules_it_loads() -> None:
    tasks = task_registry(EmailDelivery(ConsoleEmailSender()))
    # The kernel, and the modules with jobs or subscribers (each eraser subscribes).
    assert tasks.owners == {"kernel", "users", "auth", "items", "audit"}
    every = job_entrypoints(tasks, MODULES)
    # With every module, also the single entrypoint jobs were queued under before slicing.
    assert every == ["audit", "auth", "items", "kernel", "users", "modulith"]
    without_items = select_modules(MODULES, ["health", "users", "auth", "audit"])
    assert job_entrypoints(tasks, without_items) == ["audit", "auth", "kernel", "users"]


async def test_a_sliced_app_serves_only_its_modules(
    database_url: URL, connection: AsyncConnection
) -> None:
    app = build_app(make_settings(database_url, modules=["health", "users", "auth", "audit"]))
    bind_to_connection(app, connection)  # the test's transaction, rolled back after it
    paths = app.openapi()["paths"]
    assert "/api/v1/users/me" in paths and "/ready" in paths
    assert not [path for path in paths if path.startswith("/api/v1/items")]
    async with app.router.lifespan_context(app), http_client(app) as client:
        alice = await create_account(client, "alice")
        me = await client.get("/api/v1/users/me", headers=alice.headers)
        items = await client.get("/api/v1/items", headers=alice.headers)
    assert me.status_code == 200
    assert items.status_code == 404
    assert items.json()["error"]["code"] == "NOT_FOUND"


async def test_every_module_is_served_by_default(app_factory: Callable[..., FastAPI]) -> None:
    async with http_client(app_factory()) as client:
        response = await client.get("/api/v1/items")
    assert response.status_code == 401  # there, and asking who is calling
