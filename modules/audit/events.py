"""The event other modules publish to put an action on the audit trail."""

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from shared.db import utcnow
from shared.jobs.messages import Event


class Audited(Event, name="audit.recorded"):
    """Something a user did, or that was done to their account, and from where. Published in
    the transaction that does it (`AuditTrail.record`), so it exists if and only if that
    commits. `details` never holds a password, token, code or secret."""

    action: str = Field(max_length=64)
    at: datetime = Field(default_factory=utcnow)
    actor_id: uuid.UUID | None = None
    target_type: str | None = None
    target_id: uuid.UUID | None = None
    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)
