from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from shared.jobs.schedules import Schedule
from shared.module import Module

from .container import ItemsContainer
from .personal_data import PERSONAL_DATA
from .router import ITEMS_READ, ITEMS_WRITE, router


async def purge_expired_idempotency_keys(session: AsyncSession, container: Any) -> int:
    purged: int = await container.items.idempotency_keys().purge(session)
    return purged


module = Module(
    name="items",
    router=router,
    models="modules.items.models",
    schedules=(
        Schedule(
            "items.purge_expired_idempotency_keys", "37 * * * *", purge_expired_idempotency_keys
        ),
    ),
    container=ItemsContainer,
    permissions=(ITEMS_READ, ITEMS_WRITE),
    personal_data=PERSONAL_DATA,
    # items.owner_id references users.id.
    depends_on=("users",),
)
