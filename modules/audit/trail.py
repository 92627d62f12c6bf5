"""`AuditTrail`: what a route uses to record an action, in the request's own transaction.

A route takes `audit: AuditTrailDep` and calls `await audit.record("users.deleted", ...)`
before it answers. The entry is a row written with the request's session, so an audited
change is never committed without its entry, nor an entry without its change. A refusal
that must keep its entry (a failed login, say) raises an error that commits
(`AppError.commits`).
"""

import re
import uuid
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.data.db import SessionDep, utcnow
from shared.edge.client import Client, client_of

from .models import AuditEntry

# A detail named like a credential is a bug in the caller, refused before it is stored.
_SECRET_LOOKING = re.compile(r"password|token|secret|code|otp|hash", re.IGNORECASE)


class AuditTrail:
    def __init__(self, session: AsyncSession, client: Client) -> None:
        self.session = session
        self.client = client

    async def record(
        self,
        action: str,
        *,
        actor_id: uuid.UUID | None = None,
        target_type: str | None = None,
        target_id: uuid.UUID | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        details = details or {}
        if leaked := [key for key in details if _SECRET_LOOKING.search(key)]:
            raise ValueError(f"audit details must not hold credentials: {leaked}")
        self.session.add(
            AuditEntry(
                id=uuid.uuid4(),
                at=utcnow(),
                action=action,
                actor_id=actor_id,
                target_type=target_type,
                target_id=target_id,
                ip=self.client.ip,
                user_agent=self.client.user_agent,
                request_id=self.client.request_id,
                details=details,
            )
        )

    async def record_on_user(
        self,
        action: str,
        user_id: uuid.UUID,
        *,
        by: uuid.UUID | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """An action on a user's account: by that user, unless `by` names who did it."""
        await self.record(
            action, actor_id=by or user_id, target_type="user", target_id=user_id, details=details
        )


async def audit_trail(request: Request, session: SessionDep) -> AuditTrail:
    return AuditTrail(session, client_of(request))


AuditTrailDep = Annotated[AuditTrail, Depends(audit_trail)]
