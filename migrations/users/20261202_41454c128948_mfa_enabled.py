"""mfa_enabled

Revision ID: 41454c128948
Revises: a1f3c9d20b11
Create Date: 2026-12-02 21:40:06.698160
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "41454c128948"
down_revision: str | None = "a1f3c9d20b11"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("mfa_enabled", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("users", "mfa_enabled")
