"""The record each module exports from its `module.py` to register itself, and which
tables each module owns."""

from collections.abc import Callable, Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter
from sqlmodel import SQLModel

from .jobs.messages import Handlers
from .jobs.schema import ENGINE_TABLES

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
    # Start-up and shutdown work: entered in the app's lifespan, given the root container.
    lifespan: Callable[[Any], AbstractAsyncContextManager[None]] | None = None
    # Background work the module handles: the handler of each of its jobs, and of each
    # event it subscribes to (another module's, from that module's public.py).
    handlers: Handlers = field(default_factory=dict)


def tables_by_module(modules: Iterable[Module]) -> dict[str, frozenset[str]]:
    """The tables each module declares in its `models` (already imported): a table is its
    SQLModel class's module's."""
    owners = {module.models: module.name for module in modules if module.models}
    owned: dict[str, set[str]] = {name: set() for name in owners.values()}
    for mapper in SQLModel._sa_registry.mappers:
        owner = owners.get(mapper.class_.__module__)
        if owner is not None:
            owned[owner].add(str(mapper.persist_selectable.description))
    return {name: frozenset(tables) for name, tables in owned.items()}
