"""What the audit trail holds about a person: the events naming them as actor or target.

Erased, an event keeps its countable skeleton (id, at, action, actor_id, target_type,
target_id: "an account was deleted", "a login failed") and loses what names a person or their
device: the address, the user agent, the request id and every value in `details` (the e-mail
included).
"""

from collections.abc import AsyncIterator

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.personal_data import Person, PersonalData, Section

from .models import AuditEntry
from .schemas import AuditEventRead

EXPORT_PAGE = 500


def _naming(person: Person) -> sa.ColumnElement[bool]:
    # Each side walks its own index (actor_id, at, id) / (target_id, at, id).
    return (col(AuditEntry.actor_id) == person.id) | (col(AuditEntry.target_id) == person.id)


async def export_events(session: AsyncSession, person: Person) -> Section:
    yield "events", _events(session, person)


async def _events(session: AsyncSession, person: Person) -> AsyncIterator[AuditEventRead]:
    statement = (
        select(AuditEntry)
        .where(_naming(person))
        .order_by(col(AuditEntry.at), col(AuditEntry.id))
        .execution_options(yield_per=EXPORT_PAGE)
    )
    async for entry in await session.stream_scalars(statement):
        yield AuditEventRead.model_validate(entry)


async def erase_events(session: AsyncSession, person: Person) -> None:
    """Idempotent: an event already stripped is left as it is."""
    await session.exec(
        sa.update(AuditEntry)
        .where(
            _naming(person),
            col(AuditEntry.ip).is_not(None)
            | col(AuditEntry.user_agent).is_not(None)
            | col(AuditEntry.request_id).is_not(None)
            | (col(AuditEntry.details) != sa.literal({}, JSONB)),
        )
        .values(ip=None, user_agent=None, request_id=None, details={})
    )


PERSONAL_DATA = PersonalData(export=export_events, erase=erase_events)
