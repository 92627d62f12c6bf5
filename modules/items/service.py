"""The items use cases. Every query carries the caller's visibility: their own items, or all
of them for a superuser, so someone else's item reads exactly like a missing one."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from shared.api.auth import Caller
from shared.api.pagination import CursorCodec, escape_like, keyset_page
from shared.data.db import utcnow
from shared.errors import parse_id

from .errors import ItemNotFound, VersionMismatch
from .idempotency import IdempotencyKeys, request_hash
from .models import Item
from .schemas import ItemCreate, ItemRead, ItemUpdate, Sort

# How each sort key's value travels in a cursor, and comes back.
_CURSOR_VALUE: dict[str, tuple[Any, Any]] = {
    "created_at": (datetime.isoformat, datetime.fromisoformat),
    "title": (str, str),
    "price": (str, Decimal),
}


def visible_to(caller: Caller) -> sa.ColumnElement[bool]:
    """The visibility rule, in every statement of this service: a caller reaches their own
    items, a superuser all of them."""
    return sa.true() if caller.is_superuser else col(Item.owner_id) == caller.id


@dataclass(frozen=True, slots=True)
class ListFilters:
    q: str | None = None
    tag: str | None = None
    owner_id: uuid.UUID | None = None


class ItemsService:
    def __init__(self, cursors: CursorCodec, idempotency_keys: IdempotencyKeys) -> None:
        self.cursors = cursors
        self.idempotency_keys = idempotency_keys

    async def create(self, session: AsyncSession, caller: Caller, data: ItemCreate) -> ItemRead:
        item = Item(**data.model_dump(), owner_id=caller.id)
        session.add(item)
        await session.flush()
        return ItemRead.model_validate(item)

    async def create_once(
        self,
        session: AsyncSession,
        caller: Caller,
        data: ItemCreate,
        idempotency_key: str,
    ) -> ItemRead:
        """A create made safe to retry: the first request with this key creates the item and
        stores it (ItemRead as JSON); a later one with the same body gets that item back and
        creates nothing (IdempotencyKeyReused for another body)."""
        keys = self.idempotency_keys
        body_hash = request_hash(data.model_dump(mode="json"))
        stored = await keys.claim(session, caller.id, idempotency_key, body_hash)
        if stored is not None:
            return ItemRead.model_validate(stored)  # serialized again as it was the first time
        created = await self.create(session, caller, data)
        await keys.record(session, caller.id, idempotency_key, created.model_dump(mode="json"))
        return created

    async def get(self, session: AsyncSession, caller: Caller, item_id: str) -> ItemRead:
        statement = select(Item).where(
            col(Item.id) == parse_id(item_id, ItemNotFound), visible_to(caller)
        )
        item = (await session.exec(statement)).first()
        if item is None:
            raise ItemNotFound
        return ItemRead.model_validate(item)

    def list_query(
        self,
        caller: Caller,
        *,
        sort: Sort,
        limit: int,
        cursor: str | None = None,
        filters: ListFilters = ListFilters(),
    ) -> SelectOfScalar[Item]:
        """The SELECT behind a page (public so tests can EXPLAIN exactly what runs)."""
        key = sort.removeprefix("-")
        descending = sort.startswith("-")
        column = getattr(Item, key)
        statement = select(Item).where(visible_to(caller))
        if filters.owner_id is not None:
            statement = statement.where(col(Item.owner_id) == filters.owner_id)
        if filters.q:
            pattern = f"%{escape_like(filters.q)}%"
            statement = statement.where(
                sa.or_(
                    col(Item.title).ilike(pattern, escape="\\"),
                    col(Item.description).ilike(pattern, escape="\\"),
                )
            )
        if filters.tag:
            statement = statement.where(col(Item.tags).contains([filters.tag]))
        if cursor is not None:
            value, last_id = self._position(sort, cursor)
            after = sa.tuple_(column, col(Item.id))
            position = sa.tuple_(sa.literal(value, column.type), sa.literal(last_id, sa.Uuid()))
            statement = statement.where(after < position if descending else after > position)
        order = (column.desc(), col(Item.id).desc()) if descending else (column, col(Item.id))
        return statement.order_by(*order).limit(limit + 1)

    async def list(
        self,
        session: AsyncSession,
        caller: Caller,
        *,
        sort: Sort,
        limit: int,
        cursor: str | None,
        filters: ListFilters,
    ) -> tuple[list[ItemRead], str | None]:
        statement = self.list_query(caller, sort=sort, limit=limit, cursor=cursor, filters=filters)
        items = [ItemRead.model_validate(item) for item in await session.exec(statement)]
        key = sort.removeprefix("-")
        to_json = _CURSOR_VALUE[key][0]
        return keyset_page(
            items,
            limit,
            lambda last: self.cursors.encode(sort, [to_json(getattr(last, key)), str(last.id)]),
        )

    def _position(self, sort: Sort, cursor: str) -> tuple[Any, uuid.UUID]:
        # Signed with the sort: a cursor of another ordering is refused like a tampered one.
        from_json = _CURSOR_VALUE[sort.removeprefix("-")][1]
        value, last_id = self.cursors.decode_as(sort, cursor, from_json, uuid.UUID)
        return value, last_id

    async def update(
        self,
        session: AsyncSession,
        caller: Caller,
        item_id: str,
        changes: ItemUpdate,
        *,
        expected_version: int | None,
    ) -> ItemRead:
        matching = [col(Item.id) == parse_id(item_id, ItemNotFound), visible_to(caller)]
        if expected_version is not None:
            # In the same statement: of two updates made against one version, exactly one
            # matches, whatever the timing.
            matching.append(col(Item.version) == expected_version)
        statement = (
            sa.update(Item)
            .where(*matching)
            .values(
                **changes.model_dump(exclude_unset=True),
                updated_at=utcnow(),
                version=col(Item.version) + 1,
            )
            .returning(Item)
        )
        updated = (await session.exec(statement)).scalar_one_or_none()
        if updated is None:
            await self.get(session, caller, item_id)  # 404 if it is not there (for this caller)
            raise VersionMismatch
        return ItemRead.model_validate(updated)

    async def delete(self, session: AsyncSession, caller: Caller, item_id: str) -> None:
        # One statement, visibility included: a missing and someone else's item alike match
        # no row.
        statement = (
            sa.delete(Item)
            .where(col(Item.id) == parse_id(item_id, ItemNotFound), visible_to(caller))
            .returning(col(Item.id))
        )
        if (await session.exec(statement)).scalar_one_or_none() is None:
            raise ItemNotFound
