"""Login sessions and their refresh tokens.

A login opens a session; its refresh tokens form one family. Users are referred to by a
foreign-key column (the users module owns that table), never by an ORM relationship.
"""

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

from shared.data.db import utcnow
from shared.edge.client import ADDRESS_MAX_LENGTH, USER_AGENT_MAX_LENGTH


def _timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _user_id(*, primary_key: bool = False) -> Any:
    """The users row a row belongs to: it goes when the user goes. Indexed: each table is
    read and purged by user."""
    return Field(
        sa_column=sa.Column(
            sa.Uuid,
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
            primary_key=primary_key,
            index=not primary_key,
        )
    )


class AuthSession(SQLModel, table=True):
    __tablename__ = "auth_sessions"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = _user_id()
    created_at: datetime = Field(default_factory=utcnow, sa_type=_timestamp(), nullable=False)
    # Moves forward at each refresh: a session lives as long as its newest refresh token.
    expires_at: datetime = Field(sa_type=_timestamp(), nullable=False, index=True)
    revoked_at: datetime | None = Field(default=None, sa_type=_timestamp(), nullable=True)
    # The last login or refresh: written then only, never per authenticated request.
    last_used_at: datetime = Field(default_factory=utcnow, sa_type=_timestamp(), nullable=False)
    # When the user last proved their password in this session (login, or re-authentication):
    # sensitive routes need it recent. Refreshing does not move it.
    authenticated_at: datetime = Field(default_factory=utcnow, sa_type=_timestamp(), nullable=False)
    # The client at login, as the rate limits see it.
    ip: str | None = Field(default=None, max_length=ADDRESS_MAX_LENGTH)
    user_agent: str | None = Field(default=None, max_length=USER_AGENT_MAX_LENGTH)


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


class LoginThrottle(SQLModel, table=True):
    """Consecutive failed logins of one account, keyed by the SHA-256 of the normalized
    e-mail whether or not such an account exists (the row reveals no address)."""

    __tablename__ = "login_throttles"

    key: str = Field(max_length=64, primary_key=True)
    failures: int = Field(default=0, nullable=False)
    last_failure_at: datetime = Field(sa_type=_timestamp(), nullable=False, index=True)
    blocked_until: datetime | None = Field(default=None, sa_type=_timestamp(), nullable=True)


class TotpSecret(SQLModel, table=True):
    """A user's TOTP secret, encrypted. Pending until `confirmed_at` (2FA on)."""

    __tablename__ = "totp_secrets"

    user_id: uuid.UUID = _user_id(primary_key=True)
    encrypted_secret: str = Field(max_length=512)
    confirmed_at: datetime | None = Field(default=None, sa_type=_timestamp(), nullable=True)
    # The newest time step accepted: a code is accepted once, and never an older one after.
    last_used_step: int | None = Field(default=None, sa_type=sa.BigInteger, nullable=True)


class RecoveryCode(SQLModel, table=True):
    __tablename__ = "recovery_codes"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = _user_id()
    # SHA-256 of the code (50 random bits, single use): the code itself is never stored.
    code_hash: str = Field(max_length=64)
    used_at: datetime | None = Field(default=None, sa_type=_timestamp(), nullable=True)


class MfaChallenge(SQLModel, table=True):
    """A login whose password was right, waiting for its second factor (the `mfa_token`)."""

    __tablename__ = "mfa_challenges"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = _user_id()
    token_hash: str = Field(max_length=64, unique=True)
    expires_at: datetime = Field(sa_type=_timestamp(), nullable=False, index=True)
    failures: int = Field(default=0, nullable=False)
    used_at: datetime | None = Field(default=None, sa_type=_timestamp(), nullable=True)


class MailQuota(SQLModel, table=True):
    """Reset and verification e-mails sent to one address in the current hour, keyed by the
    SHA-256 of the normalized address whether or not an account has it."""

    __tablename__ = "mail_quotas"

    key: str = Field(max_length=64, primary_key=True)
    window_start: datetime = Field(sa_type=_timestamp(), nullable=False, index=True)
    sent: int = Field(nullable=False)


class ApiKey(SQLModel, table=True):
    """A personal access token: acts as its owner, within its scopes, until it expires or is
    revoked."""

    __tablename__ = "api_keys"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = _user_id()
    name: str = Field(max_length=100)
    scopes: list[str] = Field(sa_column=sa.Column(ARRAY(sa.String(100)), nullable=False))
    # The key's first characters, for its owner (and secret scanners) to recognise it.
    prefix: str = Field(max_length=12)
    # SHA-256 of the key: the key itself is never stored. A key carries 190 random bits, so
    # a fast hash is enough (a slow one would cost every request it authenticates).
    key_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=_timestamp(), nullable=False)
    expires_at: datetime = Field(sa_type=_timestamp(), nullable=False)
    # To the minute: written when the key is used a minute or more after the last write.
    last_used_at: datetime | None = Field(default=None, sa_type=_timestamp(), nullable=True)
    revoked_at: datetime | None = Field(default=None, sa_type=_timestamp(), nullable=True)
