"""The record each module exports from its `module.py` to register itself, and which
tables each module owns."""

import importlib
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from dependency_injector import containers, providers
from fastapi import APIRouter
from sqlalchemy.orm import Mapper

from .api.permissions import Permission
from .jobs.messages import Handlers
from .jobs.schedules import Schedule
from .jobs.schema import ENGINE_TABLES
from .personal_data import PersonalData

# The kernel's own tables: alembic's bookkeeping and the job queue's (its `kernel` branch).
KERNEL = "kernel"
KERNEL_TABLES = ENGINE_TABLES | {"alembic_version"}


@dataclass(frozen=True, slots=True)
class Module:
    name: str
    router: APIRouter
    # Dotted path of the module's SQLModel tables, imported by migrations/env.py.
    models: str | None = None
    # Where the router is mounted: the versioned API, or "" for probes at the root.
    prefix: str = "/api/v1"
    # Whether its routes count against the client's rate limits (the probes do not).
    rate_limited: bool = True
    # The permissions its routes need (`permitted(...)`), named "<module>:<verb>": roles and
    # API-key scopes are made of them.
    permissions: tuple[Permission, ...] = ()
    # Start-up and shutdown work: entered in the app's lifespan, given the root container.
    lifespan: Callable[[Any], AbstractAsyncContextManager[None]] | None = None
    # Background work the module handles: the handler of each of its jobs, and of each
    # event it subscribes to (another module's, from that module's public.py).
    handlers: Handlers = field(default_factory=dict)
    # Handlers that are its services' methods: given the root container, they return the
    # handlers to register (`{BuildExport: container.users.data_exports().build}`). Called
    # once, when the task registry is built; a service that writes jobs takes the queue's
    # provider (`jobs.provider`), since the queue is built from that registry.
    service_handlers: Callable[[Any], Handlers] | None = None
    # Housekeeping on a timetable, run by one worker of the deployment each time it is due.
    schedules: tuple[Schedule, ...] = ()
    # The module's providers, mounted on the root container under the module's name. It may
    # declare any of KERNEL_PROVIDERS as `providers.Dependency()` and is given them. A module
    # wired to other modules' ports is declared in the root container by hand instead.
    container: type[containers.DeclarativeContainer] | None = None
    # The modules a process must load with this one (MODULES): those it imports from (their
    # public.py) or whose tables its own reference. tests/test_module_slicing.py checks both.
    depends_on: tuple[str, ...] = ()
    # What it holds about a person: its section of their export, and how it erases it when
    # their account is deleted (shared/personal_data.py). Required of a module owning a
    # column that refers to a user (tests/users/test_personal_data.py).
    personal_data: PersonalData | None = None


class ModuleSelectionError(ValueError):
    """MODULES names a module that does not exist, or leaves out one a listed module needs."""


def select_modules(modules: Sequence[Module], names: Sequence[str] | None) -> tuple[Module, ...]:
    """The modules a process loads: those `names` lists (None: every one), in their order in
    `modules`, or a one-line ModuleSelectionError."""
    if names is None:
        return tuple(modules)
    known = {module.name for module in modules}
    if unknown := [name for name in names if name not in known]:
        raise ModuleSelectionError(
            f"MODULES: no module is named {', '.join(map(repr, unknown))}"
            f" (the modules: {', '.join(module.name for module in modules)})"
        )
    listed = [module for module in modules if module.name in names]
    missing = [
        f"{module.name} needs {needed}, which is not listed"
        for module in listed
        for needed in module.depends_on
        if needed not in names
    ]
    if missing:
        raise ModuleSelectionError(f"MODULES: {'; '.join(missing)} (its Module.depends_on)")
    return tuple(listed)


def tables_by_module(modules: Iterable[Module]) -> dict[str, frozenset[str]]:
    """The tables each module declares in its `models`: the tables of the SQLModel classes
    defined there."""
    return {module.name: _tables_of(module.models) for module in modules if module.models}


def _tables_of(models: str) -> frozenset[str]:
    tables = set()
    for value in vars(importlib.import_module(models)).values():
        if not isinstance(value, type) or value.__module__ != models:
            continue  # imported from elsewhere, or not a class
        mapper: Mapper[Any] | None = sa.inspect(value, raiseerr=False)
        if mapper is not None and isinstance(mapper.local_table, sa.Table):
            tables.add(mapper.local_table.name)
    return frozenset(tables)


# What the root container hands a module's container that asks for it.
KERNEL_PROVIDERS = ("settings", "session_factory", "jobs", "redis", "permissions")


def mount_module_containers(root: containers.Container, modules: Iterable[Module]) -> None:
    """Each module's own container on `root`, as `root.<name>`, with the kernel's providers
    it declares."""
    for module in modules:
        if module.container is None:
            continue
        wanted = module.container.providers
        kernel = {name: getattr(root, name) for name in KERNEL_PROVIDERS if name in wanted}
        root.set_provider(module.name, providers.Container(module.container, **kernel))
