"""data exports: a person's copy of their data, and its archive in pieces

Revision ID: 56e56fe8afd2
Revises: 70e410f30664
Create Date: 2026-12-05 08:13:24.151568
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "56e56fe8afd2"
down_revision: str | None = "70e410f30664"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "data_exports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_data_exports_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_exports")),
    )
    op.create_index(
        op.f("ix_data_exports_expires_at"), "data_exports", ["expires_at"], unique=False
    )
    op.create_index(
        "ix_data_exports_user_id_requested_at",
        "data_exports",
        ["user_id", "requested_at"],
        unique=False,
    )
    op.create_index(
        "uq_data_exports_user_id_pending",
        "data_exports",
        ["user_id"],
        unique=True,
        postgresql_where=sa.text("completed_at IS NULL"),
    )
    op.create_table(
        "data_export_chunks",
        sa.Column("export_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["export_id"],
            ["data_exports.id"],
            name=op.f("fk_data_export_chunks_export_id_data_exports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("export_id", "seq", name=op.f("pk_data_export_chunks")),
    )


def downgrade() -> None:
    op.drop_table("data_export_chunks")
    op.drop_index(
        "uq_data_exports_user_id_pending",
        table_name="data_exports",
        postgresql_where=sa.text("completed_at IS NULL"),
    )
    op.drop_index("ix_data_exports_user_id_requested_at", table_name="data_exports")
    op.drop_index(op.f("ix_data_exports_expires_at"), table_name="data_exports")
    op.drop_table("data_exports")
