import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from shared.edge.client import ADDRESS_MAX_LENGTH, USER_AGENT_MAX_LENGTH


class AuditEntry(SQLModel, table=True):
    """One recorded action. Ids of users and sessions are plain columns, not foreign keys:
    the trail must outlive what it talks about (a deleted user's history stays)."""

    __tablename__ = "audit_events"
    __table_args__ = (
        # The list walks one of these, newest first: everything, or one filter's rows.
        sa.Index("ix_audit_events_at_id", "at", "id"),
        sa.Index("ix_audit_events_actor_id_at_id", "actor_id", "at", "id"),
        sa.Index("ix_audit_events_target_id_at_id", "target_id", "at", "id"),
        sa.Index("ix_audit_events_action_at_id", "action", "at", "id"),
    )

    id: uuid.UUID = Field(primary_key=True)
    at: datetime = Field(sa_type=sa.DateTime(timezone=True), nullable=False)
    action: str = Field(max_length=64)
    actor_id: uuid.UUID | None = None
    target_type: str | None = Field(default=None, max_length=32)
    target_id: uuid.UUID | None = None
    ip: str | None = Field(default=None, max_length=ADDRESS_MAX_LENGTH)
    user_agent: str | None = Field(default=None, max_length=USER_AGENT_MAX_LENGTH)
    request_id: str | None = Field(default=None, max_length=128)
    details: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(JSONB, nullable=False)
    )
