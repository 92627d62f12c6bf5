"""login sessions remember when their user last proved the password (sudo mode)

Revision ID: c81e5a09f3d7
Revises: 7533886d56b7
Create Date: 2026-12-04 20:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c81e5a09f3d7"
down_revision: str | None = "7533886d56b7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "auth_sessions", sa.Column("authenticated_at", sa.DateTime(timezone=True), nullable=True)
    )
    # A session opened before this revision proved the password at its login.
    op.execute("UPDATE auth_sessions SET authenticated_at = created_at")
    op.alter_column("auth_sessions", "authenticated_at", nullable=False)


def downgrade() -> None:
    op.drop_column("auth_sessions", "authenticated_at")
