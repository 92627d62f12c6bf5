"""FastAPI dependencies on the root container's providers: `Depends(provided("items.service"))`.

dependency-injector's own FastAPI pattern, `Depends(Provide["items.service"])` with `@inject`,
hands FastAPI a marker whose `__call__` is a plain function, so FastAPI runs it in its thread
pool: a thread hop (and a GIL hand-off) per marker per request, for a value that is a
singleton lookup. These dependencies are coroutines that call the provider on the loop.

Every path is checked against the container when the app is built (`check_provided`), so a
typo stops start-up instead of failing requests.
"""

from collections.abc import Awaitable, Callable
from typing import Any

from dependency_injector import containers, providers
from fastapi import Request

_PATHS: set[str] = set()


def provided(path: str) -> Callable[[Request], Awaitable[Any]]:
    """A dependency giving what the root container's provider at `path` (dotted) provides."""
    names = tuple(path.split("."))
    _PATHS.add(path)

    async def resolve(request: Request) -> Any:
        provider: Any = request.app.state.container
        for name in names:
            provider = getattr(provider, name)
        return provider()

    resolve.__name__ = resolve.__qualname__ = f"provided[{path}]"
    return resolve


def check_provided(container: containers.Container) -> None:
    """Raises if a path given to `provided()` names no provider of the container."""
    for path in sorted(_PATHS):
        target: Any = container
        for name in path.split("."):
            target = getattr(target, name, None)
        if not isinstance(target, providers.Provider):
            raise LookupError(f"provided({path!r}): the root container has no such provider")
