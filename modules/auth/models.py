"""Login sessions and their refresh tokens.

A login opens a session; its refresh tokens form one family. Users are referred to by a
foreign-key column (the users module owns that table), never by an ORM relationship.
"""

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from shared.db import utcnow


def _timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


class AuthSession(SQLModel, table=True):
    __tablename__ = "auth_sessions"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=_timestamp(), nullable=False)
    # Moves forward at each refresh: a session lives as long as its newest refresh token.
    expires_at: datetime = Field(sa_type=_timestamp(), nullable=False, index=True)
    revoked_at: datetime | None = Field(default=None, sa_type=_timestamp(), nullable=True)


class RefreshToken(SQLModel, table=True):
    __tablename__ = "refresh_tokens"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    session_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid,
            sa.ForeignKey("auth_sessions.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
    )
    # SHA-256 of the token: the token itself is never stored.
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=_timestamp(), nullable=False)
    expires_at: datetime = Field(sa_type=_timestamp(), nullable=False)
    used_at: datetime | None = Field(default=None, sa_type=_timestamp(), nullable=True)
