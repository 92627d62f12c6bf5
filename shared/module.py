"""The record each module exports from its `module.py` to register itself."""

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter

from .jobs.messages import Handlers


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
