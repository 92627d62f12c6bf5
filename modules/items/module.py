from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from modules.users.public import UserDeleted
from shared.module import Module
from shared.periodic import running_every

from .container import ItemsContainer
from .idempotency import forget_idempotency_keys
from .router import router


@asynccontextmanager
async def lifespan(container: Any) -> AsyncIterator[None]:
    async def purge_expired_idempotency_keys() -> int:
        async with container.session_factory()() as session, session.begin():
            purged: int = await container.items.idempotency_keys().purge(session)
        return purged

    async with running_every(
        timedelta(hours=1), "purge_idempotency_keys", purge_expired_idempotency_keys
    ):
        yield


module = Module(
    name="items",
    router=router,
    models="modules.items.models",
    lifespan=lifespan,
    handlers={UserDeleted: forget_idempotency_keys},
    container=ItemsContainer,
)
