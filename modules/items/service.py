"""The items use cases. Every query carries the caller's visibility: their own items, or all
of them for a superuser, so someone else's item reads exactly like a missing one."""

import functools
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from shared.auth import Principal
from shared.db import utcnow
from shared.errors import parse_id
from shared.fast_path import FastStatement
from shared.pagination import CursorCodec, escape_like, keyset_page

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


Statement = TypeVar("Statement", SelectOfScalar[Item], sa.Update, sa.Delete)


def _readable(statement: Statement, *, superuser: bool) -> Statement:
    """The visibility rule, written once: a user reaches their own items, a superuser all of
    them. Every statement of this service goes through here; the owner is bound per call as
    `caller_id` (`_reader`), so statements can be built once per shape."""
    if superuser:
        return statement
    return statement.where(col(Item.owner_id) == sa.bindparam("caller_id", type_=sa.Uuid()))


def _reader(user: Principal) -> dict[str, Any]:
    """The parameters `_readable` statements need for this caller."""
    return {} if user.is_superuser else {"caller_id": user.id}


# Every statement is built and compiled once per shape, and bound per call: building a
# SELECT costs more CPU than running it (bench/README.md). They run on the kernel's fast path:
# items come back as ItemRead, with no ORM instance in between.

_COLUMNS = tuple(Item.__table__.columns)  # type: ignore[attr-defined]


@functools.cache
def _get_statement(*, superuser: bool) -> FastStatement[ItemRead]:
    statement = select(Item).where(col(Item.id) == sa.bindparam("item_id"))
    return FastStatement(_readable(statement, superuser=superuser), into=ItemRead)


# Every column is a parameter, named after it (`sa.insert` without values).
_INSERT = FastStatement(sa.insert(Item).returning(*_COLUMNS), into=ItemRead)


@functools.cache  # bounded: 2 × 2⁵ sets of fields × 2
def _update_statement(
    fields: tuple[str, ...], *, superuser: bool, with_version: bool
) -> FastStatement[ItemRead]:
    matching = _readable(
        sa.update(Item).where(col(Item.id) == sa.bindparam("item_id", type_=sa.Uuid())),
        superuser=superuser,
    )
    if with_version:
        # In the same statement: of two updates made against one version, exactly one
        # matches, whatever the timing.
        matching = matching.where(
            col(Item.version) == sa.bindparam("expected_version", type_=sa.Integer)
        )
    # Parameters may not be named after the columns they set (SQLAlchemy keeps those names).
    values: dict[str, Any] = {
        field: sa.bindparam(f"new_{field}") for field in (*fields, "updated_at")
    }
    statement = matching.values(**values, version=col(Item.version) + 1).returning(*_COLUMNS)
    return FastStatement(statement, into=ItemRead)


@functools.cache
def _delete_statement(*, superuser: bool) -> FastStatement[Any]:
    # One statement, visibility included: a missing and someone else's item alike match
    # no row.
    matching = _readable(
        sa.delete(Item).where(col(Item.id) == sa.bindparam("item_id", type_=sa.Uuid())),
        superuser=superuser,
    )
    return FastStatement(matching.returning(col(Item.id)))


@functools.cache  # bounded: 6 sorts × 2⁵ shapes
def _list_statement(
    sort: Sort,
    *,
    superuser: bool,
    by_owner: bool,
    with_q: bool,
    with_tag: bool,
    after_cursor: bool,
) -> FastStatement[ItemRead]:
    key = sort.removeprefix("-")
    descending = sort.startswith("-")
    column = getattr(Item, key)
    statement = _readable(select(Item), superuser=superuser)
    if by_owner:
        statement = statement.where(col(Item.owner_id) == sa.bindparam("owner_filter"))
    if with_q:
        pattern = sa.bindparam("pattern", type_=sa.String)
        statement = statement.where(
            sa.or_(
                col(Item.title).ilike(pattern, escape="\\"),
                col(Item.description).ilike(pattern, escape="\\"),
            )
        )
    if with_tag:
        tags = sa.bindparam("tags", type_=postgresql.ARRAY(sa.String(30)))
        statement = statement.where(col(Item.tags).contains(tags))
    if after_cursor:
        after = sa.tuple_(column, col(Item.id))
        position = sa.tuple_(
            sa.bindparam("after_value", type_=column.type),
            sa.bindparam("after_id", type_=sa.Uuid()),
        )
        statement = statement.where(after < position if descending else after > position)
    order = (column.desc(), col(Item.id).desc()) if descending else (column, col(Item.id))
    statement = statement.order_by(*order).limit(sa.bindparam("limit", type_=sa.Integer))
    return FastStatement(statement, into=ItemRead)


@dataclass(frozen=True, slots=True)
class ListFilters:
    q: str | None = None
    tag: str | None = None
    owner_id: uuid.UUID | None = None


class ItemsService:
    def __init__(self, cursors: CursorCodec, idempotency_keys: IdempotencyKeys) -> None:
        self.cursors = cursors
        self.idempotency_keys = idempotency_keys

    async def create(self, session: AsyncSession, user: Principal, data: ItemCreate) -> ItemRead:
        now = utcnow()
        [item] = await _INSERT.rows(
            session,
            **data.model_dump(),
            id=uuid.uuid4(),
            owner_id=user.id,
            created_at=now,
            updated_at=now,
            version=1,
        )
        return item

    async def create_once(
        self,
        session: AsyncSession,
        user: Principal,
        data: ItemCreate,
        idempotency_key: str,
    ) -> ItemRead:
        """A create made safe to retry: the first request with this key creates the item and
        stores it (ItemRead as JSON); a later one with the same body gets that item back and
        creates nothing (IdempotencyKeyReused for another body)."""
        keys = self.idempotency_keys
        body_hash = request_hash(data.model_dump(mode="json"))
        stored = await keys.claim(session, user.id, idempotency_key, body_hash)
        if stored is not None:
            return ItemRead.model_validate(stored)  # serialized again as it was the first time
        created = await self.create(session, user, data)
        await keys.record(session, user.id, idempotency_key, created.model_dump(mode="json"))
        return created

    async def get(self, session: AsyncSession, user: Principal, item_id: str) -> ItemRead:
        statement = _get_statement(superuser=user.is_superuser)
        item = await statement.row(
            session, item_id=parse_id(item_id, ItemNotFound), **_reader(user)
        )
        if item is None:
            raise ItemNotFound
        return item

    def list_query(
        self,
        user: Principal,
        *,
        sort: Sort,
        limit: int,
        cursor: str | None = None,
        filters: ListFilters = ListFilters(),
    ) -> tuple[FastStatement[ItemRead], dict[str, Any]]:
        """The SELECT behind a page and its parameters (public so tests can EXPLAIN exactly
        what runs)."""
        params: dict[str, Any] = {"limit": limit + 1, **_reader(user)}
        if filters.owner_id is not None:
            params["owner_filter"] = filters.owner_id
        if filters.q:
            params["pattern"] = f"%{escape_like(filters.q)}%"
        if filters.tag:
            params["tags"] = [filters.tag]
        if cursor is not None:
            params["after_value"], params["after_id"] = self._position(sort, cursor)
        statement = _list_statement(
            sort,
            superuser=user.is_superuser,
            by_owner=filters.owner_id is not None,
            with_q=bool(filters.q),
            with_tag=bool(filters.tag),
            after_cursor=cursor is not None,
        )
        return statement, params

    async def list(
        self,
        session: AsyncSession,
        user: Principal,
        *,
        sort: Sort,
        limit: int,
        cursor: str | None,
        filters: ListFilters,
    ) -> tuple[list[ItemRead], str | None]:
        statement, params = self.list_query(
            user, sort=sort, limit=limit, cursor=cursor, filters=filters
        )
        key = sort.removeprefix("-")
        to_json = _CURSOR_VALUE[key][0]
        return keyset_page(
            await statement.rows(session, **params),
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
        user: Principal,
        item_id: str,
        changes: ItemUpdate,
        *,
        expected_version: int | None,
    ) -> ItemRead:
        values = changes.model_dump(exclude_unset=True)
        statement = _update_statement(
            tuple(sorted(values)),
            superuser=user.is_superuser,
            with_version=expected_version is not None,
        )
        updated = await statement.row(
            session,
            item_id=parse_id(item_id, ItemNotFound),
            expected_version=expected_version,
            new_updated_at=utcnow(),
            **{f"new_{field}": value for field, value in values.items()},
            **_reader(user),
        )
        if updated is None:
            await self.get(session, user, item_id)  # 404 if it is not there (for this user)
            raise VersionMismatch
        return updated

    async def delete(self, session: AsyncSession, user: Principal, item_id: str) -> None:
        statement = _delete_statement(superuser=user.is_superuser)
        deleted = await statement.row(
            session, item_id=parse_id(item_id, ItemNotFound), **_reader(user)
        )
        if deleted is None:
            raise ItemNotFound
