"""The audit trail: listing it for superusers, purging it (AuditTrail, in trail.py, writes it)."""

import uuid
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.api.pagination import CursorCodec, time_ordered_page
from shared.data.db import utcnow

from .models import AuditEntry


@dataclass(frozen=True, slots=True)
class AuditFilter:
    actor_id: uuid.UUID | None = None
    target_id: uuid.UUID | None = None
    action: str | None = None

    @property
    def ordering(self) -> str:
        # Signed into the cursor: a cursor from another filter is INVALID_CURSOR, not a page
        # of something else.
        return f"-at|{self.actor_id or ''}|{self.target_id or ''}|{self.action or ''}"

    def conditions(self) -> list[sa.ColumnElement[bool]]:
        conditions = []
        if self.actor_id is not None:
            conditions.append(col(AuditEntry.actor_id) == self.actor_id)
        if self.target_id is not None:
            conditions.append(col(AuditEntry.target_id) == self.target_id)
        if self.action is not None:
            conditions.append(col(AuditEntry.action) == self.action)
        return conditions


class AuditLog:
    def __init__(self, cursors: CursorCodec) -> None:
        self.cursors = cursors

    async def list(
        self, session: AsyncSession, where: AuditFilter, *, limit: int, cursor: str | None
    ) -> tuple[list[AuditEntry], str | None]:
        return await time_ordered_page(
            session,
            select(AuditEntry).where(*where.conditions()),
            at=col(AuditEntry.at),
            id_=col(AuditEntry.id),
            cursors=self.cursors,
            ordering=where.ordering,
            cursor=cursor,
            limit=limit,
        )

    async def purge(self, session: AsyncSession, *, older_than: timedelta) -> int:
        result = await session.exec(
            sa.delete(AuditEntry).where(col(AuditEntry.at) < utcnow() - older_than)
        )
        return int(result.rowcount)
