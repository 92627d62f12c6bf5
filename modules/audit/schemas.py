import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.api.pagination import Page


class AuditEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    at: datetime = Field(description="When the action happened.")
    action: str = Field(examples=["auth.login.failed"])
    actor_id: uuid.UUID | None = Field(description="Who did it; null when nobody is known.")
    target_type: str | None = Field(examples=["user", "session"])
    target_id: uuid.UUID | None
    ip: str | None = Field(description="The client address, as the rate limits see it.")
    user_agent: str | None
    request_id: str | None = Field(description="The request's `X-Request-ID`.")
    details: dict[str, Any] = Field(
        description="What changed, by name; never a password, token, code or secret.",
        examples=[{"fields": ["is_active"], "is_active": {"old": True, "new": False}}],
    )


class AuditPage(Page[AuditEventRead]):
    """A page of the audit trail, newest first."""
