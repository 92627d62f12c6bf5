from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from modules.users.public import UserDeleted
from shared.jobs.schedules import Schedule
from shared.module import Module

from .container import ItemsContainer
from .idempotency import forget_idempotency_keys
from .router import ITEMS_READ, ITEMS_WRITE, router


async def purge_expired_idempotency_keys(session: AsyncSession, container: Any) -> int:
    purged: int = await container.items.idempotency_keys().purge(session)
    return purged


module = Module(
    name="items",
    router=router,
    models="modules.items.models",
    handlers={UserDeleted: forget_idempotency_keys},
    schedules=(
        Schedule(
            "items.purge_expired_idempotency_keys", "37 * * * *", purge_expired_idempotency_keys
        ),
    ),
    container=ItemsContainer,
    permissions=(ITEMS_READ, ITEMS_WRITE),
    # items.owner_id references users.id; it forgets a deleted user's idempotency keys.
    depends_on=("users",),
)
