import uuid
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field, SQLModel

from shared.data.db import utcnow

# Every list query walks one of these indexes: per owner (users) or global (superusers), in
# created_at, title or price order, then id. Descending sorts read them backwards.
_LIST_INDEXES = [
    sa.Index(f"ix_items_{prefix}{key}_id", *columns, key, "id")
    for prefix, columns in (("owner_id_", ("owner_id",)), ("", ()))
    for key in ("created_at", "title", "price")
]


class Item(SQLModel, table=True):
    __tablename__ = "items"
    __table_args__ = (
        *_LIST_INDEXES,
        sa.Index("ix_items_tags", "tags", postgresql_using="gin"),  # serves `tags @> {tag}`
        sa.CheckConstraint("price > 0", name="price_positive"),
        sa.CheckConstraint("quantity BETWEEN 0 AND 10000", name="quantity_range"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    title: str = Field(max_length=100)
    description: str | None = Field(default=None, max_length=2000)
    price: Decimal = Field(sa_type=sa.Numeric(12, 2), nullable=False)
    quantity: int = Field(default=0, nullable=False)
    tags: list[str] = Field(
        default_factory=list,
        sa_column=sa.Column(ARRAY(sa.String(30)), nullable=False, server_default="{}"),
    )
    # The owner is a users row: a foreign-key column, not a relationship to another
    # module's class. Deleting the user deletes their items.
    owner_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    # Optimistic concurrency: every update adds one; If-Match compares against it.
    version: int = Field(default=1, nullable=False)


class IdempotencyKey(SQLModel, table=True):
    """A create request seen with an Idempotency-Key, and the response it got (24 h)."""

    __tablename__ = "item_idempotency_keys"

    # No foreign key to users: the keys are forgotten on `users.deleted`
    # (personal_data.erase_items), and a stale one can serve no request.
    owner_id: uuid.UUID = Field(primary_key=True)
    key: str = Field(max_length=255, primary_key=True)
    request_hash: str = Field(max_length=64)
    # The first response's body (the item, with its id), replayed as is.
    response: dict[str, object] | None = Field(default=None, sa_type=JSONB)
    created_at: datetime = Field(
        default_factory=utcnow, sa_type=sa.DateTime(timezone=True), index=True
    )
