"""Idempotent creates: a replayed `Idempotency-Key` returns the first response.

The key is reserved with `INSERT … ON CONFLICT DO NOTHING` in the same transaction that
creates the item. A concurrent request with the same key waits on that row until the first
commits, then finds it and replays the stored response: one item, whatever the timing. If
the first request fails, its reservation rolls back with it and the key is free again.
"""

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from .errors import IdempotencyKeyReused
from .models import IdempotencyKey

KEY_LIFETIME = timedelta(hours=24)


def request_hash(body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class IdempotencyKeys:
    async def claim(
        self, session: AsyncSession, owner_id: uuid.UUID, key: str, body_hash: str
    ) -> dict[str, Any] | None:
        """None: the key is ours, go ahead. Otherwise the response body to replay."""
        now = datetime.now(UTC)
        scope = (col(IdempotencyKey.owner_id) == owner_id, col(IdempotencyKey.key) == key)
        # An expired key starts afresh.
        await session.exec(
            sa.delete(IdempotencyKey).where(
                *scope, col(IdempotencyKey.created_at) < now - KEY_LIFETIME
            )
        )
        reserved = await session.exec(
            insert(IdempotencyKey)
            .values(owner_id=owner_id, key=key, request_hash=body_hash, created_at=now)
            .on_conflict_do_nothing()
            .returning(col(IdempotencyKey.key))
        )
        if reserved.first() is not None:
            return None
        seen = (await session.exec(select(IdempotencyKey).where(*scope))).one()
        if seen.request_hash != body_hash:
            raise IdempotencyKeyReused
        if seen.response is None:  # recorded in the transaction that reserved the key
            raise RuntimeError(f"idempotency key {key!r} was committed without its response")
        return seen.response

    async def record(
        self,
        session: AsyncSession,
        owner_id: uuid.UUID,
        key: str,
        response: dict[str, Any],
    ) -> None:
        await session.exec(
            sa.update(IdempotencyKey)
            .where(col(IdempotencyKey.owner_id) == owner_id, col(IdempotencyKey.key) == key)
            .values(response=response)
        )

    async def purge(self, session: AsyncSession) -> int:
        cutoff = datetime.now(UTC) - KEY_LIFETIME
        result = await session.exec(
            sa.delete(IdempotencyKey).where(col(IdempotencyKey.created_at) < cutoff)
        )
        return int(result.rowcount)
