import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

from shared.data.db import utcnow


class User(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = (
        # E-mail addresses are unique whatever their case; fastapi-users' look-up by
        # lower(email) uses this index too.
        sa.Index("uq_users_email_lower", sa.func.lower(sa.text("email")), unique=True),
        # The superuser listing pages by (created_at, id).
        sa.Index("ix_users_created_at_id", "created_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    email: str = Field(max_length=320)
    hashed_password: str = Field(max_length=1024)
    full_name: str | None = Field(default=None, max_length=100)
    is_active: bool = True
    is_superuser: bool = False
    is_verified: bool = False
    # Two-factor login is on (the auth module keeps the TOTP secret and recovery codes).
    mfa_enabled: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    created_at: datetime = Field(
        default_factory=utcnow, sa_type=sa.DateTime(timezone=True), nullable=False
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_type=sa.DateTime(timezone=True), nullable=False
    )


class Role(SQLModel, table=True):
    """A named set of permissions, given to users by superusers. Its permissions are names
    modules declare (shared/api/permissions.py), checked when the role is written."""

    __tablename__ = "roles"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(max_length=50, unique=True)
    description: str | None = Field(default=None, max_length=200)
    permissions: list[str] = Field(
        default_factory=list, sa_column=sa.Column(ARRAY(sa.String(100)), nullable=False)
    )
    created_at: datetime = Field(
        default_factory=utcnow, sa_type=sa.DateTime(timezone=True), nullable=False
    )


class UserRole(SQLModel, table=True):
    """Who holds which role: gone with either."""

    __tablename__ = "user_roles"

    user_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
        )
    )
    # Indexed: deleting or renaming a role finds its holders.
    role_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True, index=True
        )
    )


class DataExport(SQLModel, table=True):
    """A person's copy of their data (README, "Personal data"): requested, built by the
    `users.build_export` job, downloadable until `expires_at`, then purged."""

    __tablename__ = "data_exports"
    __table_args__ = (
        # A person's list, newest first.
        sa.Index("ix_data_exports_user_id_requested_at", "user_id", "requested_at"),
        # One pending export (not completed) per person: a second request meanwhile is
        # refused (409).
        sa.Index(
            "uq_data_exports_user_id_pending",
            "user_id",
            unique=True,
            postgresql_where=sa.text("completed_at IS NULL"),
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    )
    requested_at: datetime = Field(
        default_factory=utcnow, sa_type=sa.DateTime(timezone=True), nullable=False
    )
    # Set when the archive is stored: the export is ready (pending until then).
    completed_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    # Set when ready: EXPORT_RETENTION_DAYS after. Purged by the hourly housekeeping.
    expires_at: datetime | None = Field(
        default=None, sa_type=sa.DateTime(timezone=True), index=True
    )


class DataExportChunk(SQLModel, table=True):
    """The archive (JSON) in pieces of at most EXPORT_CHUNK_BYTES, in `seq` order: written
    and served piece by piece, never whole in memory."""

    __tablename__ = "data_export_chunks"

    export_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("data_exports.id", ondelete="CASCADE"), primary_key=True
        )
    )
    seq: int = Field(primary_key=True)
    content: bytes = Field(sa_type=sa.LargeBinary, nullable=False)
