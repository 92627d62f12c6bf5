"""What items holds about a person: the items they own, and the idempotency keys of their
create requests (with the responses stored under them)."""

from collections.abc import AsyncIterator

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.personal_data import Person, PersonalData, Section

from .models import IdempotencyKey, Item
from .schemas import ItemRead

# Rows fetched per round trip while an export streams them: memory stays flat however many
# items the person owns.
EXPORT_PAGE = 500


async def export_items(session: AsyncSession, person: Person) -> Section:
    yield "items", _owned_items(session, person)


async def _owned_items(session: AsyncSession, person: Person) -> AsyncIterator[ItemRead]:
    statement = (
        select(Item)
        .where(col(Item.owner_id) == person.id)
        .order_by(col(Item.created_at), col(Item.id))
        .execution_options(yield_per=EXPORT_PAGE)
    )
    async for item in await session.stream_scalars(statement):
        yield ItemRead.model_validate(item)


async def erase_items(session: AsyncSession, person: Person) -> None:
    """The items went with the user row (ON DELETE CASCADE); the idempotency keys have no
    foreign key (a key is this module's cache, not an integrity rule), so they go here.
    Idempotent: a repeated delivery deletes nothing more."""
    await session.exec(sa.delete(Item).where(col(Item.owner_id) == person.id))
    await session.exec(sa.delete(IdempotencyKey).where(col(IdempotencyKey.owner_id) == person.id))


PERSONAL_DATA = PersonalData(export=export_items, erase=erase_items)
