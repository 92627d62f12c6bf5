"""mail quotas: reset and verification e-mails per address and hour

Revision ID: 5d2c7e8a1b94
Revises: c81e5a09f3d7
Create Date: 2026-12-04 20:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "5d2c7e8a1b94"
down_revision: str | None = "c81e5a09f3d7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mail_quotas",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_mail_quotas")),
    )
    op.create_index(
        op.f("ix_mail_quotas_window_start"), "mail_quotas", ["window_start"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_mail_quotas_window_start"), table_name="mail_quotas")
    op.drop_table("mail_quotas")
