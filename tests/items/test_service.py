"""ItemsService against the real database: the visibility rule (a user reaches their own
items, a superuser all of them) holds in every use case."""

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from modules.items.errors import ItemNotFound
from modules.items.idempotency import IdempotencyKeys
from modules.items.schemas import ItemCreate, ItemRead, ItemUpdate
from modules.items.service import ItemsService, ListFilters
from modules.users.public import User
from shared.api.auth import Caller
from shared.api.pagination import CursorCodec
from tests.accounts import new_email


@pytest.fixture
async def session(connection: AsyncConnection) -> AsyncIterator[AsyncSession]:
    async with AsyncSession(bind=connection, join_transaction_mode="create_savepoint") as session:
        yield session


async def user(session: AsyncSession, *, superuser: bool = False) -> Caller:
    """A new account, calling through a login session (the service needs no row for it)."""
    account = User(email=new_email(), hashed_password="unused", is_superuser=superuser)
    session.add(account)
    await session.flush()
    return Caller(account=account, session_id=uuid.uuid4())


@pytest.fixture
def service() -> ItemsService:
    return ItemsService(CursorCodec("test-secret"), IdempotencyKeys())


async def an_item(service: ItemsService, session: AsyncSession, owner: Caller) -> ItemRead:
    return await service.create(session, owner, ItemCreate(title="lamp", price=Decimal("9.90")))


async def test_an_owner_reaches_their_item_in_every_use_case(
    service: ItemsService, session: AsyncSession
) -> None:
    alice = await user(session)
    item = await an_item(service, session, alice)
    assert (await service.get(session, alice, str(item.id))).id == item.id
    page, _ = await service.list(
        session, alice, sort="-created_at", limit=10, cursor=None, filters=ListFilters()
    )
    assert [row.id for row in page] == [item.id]
    changes = ItemUpdate(title="desk lamp")
    updated = await service.update(session, alice, str(item.id), changes, expected_version=None)
    assert updated.title == "desk lamp"
    await service.delete(session, alice, str(item.id))
    with pytest.raises(ItemNotFound):
        await service.get(session, alice, str(item.id))


async def test_someone_elses_item_is_out_of_reach_in_every_use_case(
    service: ItemsService, session: AsyncSession
) -> None:
    alice, bob = await user(session), await user(session)
    item = await an_item(service, session, alice)
    with pytest.raises(ItemNotFound):
        await service.get(session, bob, str(item.id))
    page, _ = await service.list(
        session, bob, sort="-created_at", limit=10, cursor=None, filters=ListFilters()
    )
    assert page == []
    with pytest.raises(ItemNotFound):
        await service.update(session, bob, str(item.id), ItemUpdate(title="x"), expected_version=1)
    with pytest.raises(ItemNotFound):
        await service.delete(session, bob, str(item.id))
    assert (await service.get(session, alice, str(item.id))).title == "lamp"  # untouched


async def test_a_superuser_reaches_every_item_in_every_use_case(
    service: ItemsService, session: AsyncSession
) -> None:
    alice, admin = await user(session), await user(session, superuser=True)
    item = await an_item(service, session, alice)
    assert (await service.get(session, admin, str(item.id))).id == item.id
    page, _ = await service.list(
        session, admin, sort="-created_at", limit=100, cursor=None, filters=ListFilters()
    )
    assert item.id in [row.id for row in page]
    changes = ItemUpdate(quantity=3)
    updated = await service.update(session, admin, str(item.id), changes, expected_version=1)
    assert (updated.quantity, updated.owner_id) == (3, alice.id)
    await service.delete(session, admin, str(item.id))
    with pytest.raises(ItemNotFound):
        await service.get(session, alice, str(item.id))
