"""Keyset pagination: opaque cursors, the page shape, and the helpers every list query uses.

A cursor carries the sort position of the last row served (its sort key value and id) and
the name of the ordering it belongs to, signed with SECRET_KEY: a tampered cursor, or one
from another ordering, is `400 INVALID_CURSOR`, never a 500 from a bad query.
"""

import base64
import binascii
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

import sqlalchemy as sa
from fastapi import Query
from pydantic import BaseModel, Field
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from ..errors import BadRequest
from ..settings import Settings

_SIGNATURE_BYTES = 16

# The query parameters of every paginated list (`limit: PageLimit = 20`).
PageLimit = Annotated[int, Query(ge=1, le=100, description="Rows per page, 1 to 100.")]
PageCursor = Annotated[
    str | None,
    Query(max_length=512, description="`next_cursor` of the previous page; omit for the first."),
]


class InvalidCursor(BadRequest):
    code = "INVALID_CURSOR"
    detail = "The cursor is invalid"


class CursorCodec:
    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(b"cursor:" + secret.encode()).digest()

    @classmethod
    def from_settings(cls, settings: Settings) -> "CursorCodec":
        return cls(settings.secret_key.get_secret_value())

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:_SIGNATURE_BYTES]

    def encode(self, ordering: str, position: list[Any]) -> str:
        payload = json.dumps([ordering, position], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(self._sign(payload) + payload).rstrip(b"=").decode()

    def decode(self, ordering: str, cursor: str) -> list[Any]:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (binascii.Error, ValueError):
            raise InvalidCursor from None
        signature, payload = raw[:_SIGNATURE_BYTES], raw[_SIGNATURE_BYTES:]
        if not hmac.compare_digest(signature, self._sign(payload)):
            raise InvalidCursor
        cursor_ordering, position = json.loads(payload)
        if cursor_ordering != ordering or not isinstance(position, list):
            raise InvalidCursor
        return position

    def decode_as(self, ordering: str, cursor: str, *parsers: Callable[[Any], Any]) -> list[Any]:
        """`decode`, then each value of the position through its parser (`datetime.fromisoformat`,
        `uuid.UUID`, …): a value that does not parse is `InvalidCursor` too."""
        position = self.decode(ordering, cursor)
        if len(position) != len(parsers):
            raise InvalidCursor
        try:
            return [parse(value) for parse, value in zip(parsers, position, strict=True)]
        except (TypeError, ValueError, ArithmeticError):
            raise InvalidCursor from None


Row = TypeVar("Row")


def keyset_page(
    rows: Sequence[Row], limit: int, cursor_after: Callable[[Row], str]
) -> tuple[list[Row], str | None]:
    """Rows fetched with `LIMIT limit + 1`: the page, and the cursor after its last row (None
    when nothing follows: the extra row is how we know)."""
    if len(rows) <= limit:
        return list(rows), None
    return list(rows[:limit]), cursor_after(rows[limit - 1])


async def time_ordered_page(
    session: AsyncSession,
    query: SelectOfScalar[Row],
    *,
    at: Any,
    id_: Any,
    cursors: CursorCodec,
    ordering: str,
    cursor: str | None,
    limit: int,
    newest_first: bool = True,
) -> tuple[list[Row], str | None]:
    """One page of `query`'s rows in (`at`, `id_`) order, the columns given with `col()`:
    newest first, or oldest first. The cursor is the last row's (time, id), signed under
    `ordering` (a name that also says which filter it belongs to, where there is one)."""
    key = sa.tuple_(at, id_)
    if cursor is not None:
        at_value, last_id = cursors.decode_as(ordering, cursor, datetime.fromisoformat, uuid.UUID)
        position = sa.tuple_(sa.literal(at_value), sa.literal(last_id, sa.Uuid()))
        query = query.where(key < position if newest_first else key > position)
    order = (at.desc(), id_.desc()) if newest_first else (at, id_)
    rows = (await session.exec(query.order_by(*order).limit(limit + 1))).all()
    return keyset_page(
        rows,
        limit,
        lambda last: cursors.encode(
            ordering, [getattr(last, at.key).isoformat(), str(getattr(last, id_.key))]
        ),
    )


def escape_like(text: str) -> str:
    """`text` matched literally inside a LIKE pattern (with `escape="\\"`)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


Entry = TypeVar("Entry")


class Page(BaseModel, Generic[Entry]):
    """One page of a list. Subclass it per resource (`class ItemPage(Page[ItemRead])`) so the
    schema keeps a readable component name."""

    data: list[Entry]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )
