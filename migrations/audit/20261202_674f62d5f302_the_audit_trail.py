"""the audit trail

Revision ID: 674f62d5f302
Revises:
Create Date: 2026-12-02 21:39:13.230214
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "674f62d5f302"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = ("audit",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("target_type", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("target_id", sa.Uuid(), nullable=True),
        sa.Column("ip", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("user_agent", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True),
        sa.Column("request_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index(
        "ix_audit_events_action_at_id", "audit_events", ["action", "at", "id"], unique=False
    )
    op.create_index(
        "ix_audit_events_actor_id_at_id", "audit_events", ["actor_id", "at", "id"], unique=False
    )
    op.create_index("ix_audit_events_at_id", "audit_events", ["at", "id"], unique=False)
    op.create_index(
        "ix_audit_events_target_id_at_id", "audit_events", ["target_id", "at", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_audit_events_target_id_at_id", table_name="audit_events")
    op.drop_index("ix_audit_events_at_id", table_name="audit_events")
    op.drop_index("ix_audit_events_actor_id_at_id", table_name="audit_events")
    op.drop_index("ix_audit_events_action_at_id", table_name="audit_events")
    op.drop_table("audit_events")
