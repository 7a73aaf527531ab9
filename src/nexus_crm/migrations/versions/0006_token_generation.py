"""JWT refresh rotation: ``dashboard_users.token_generation``.

Each refresh token carries the generation it was issued at; using it moves the counter on
(compare-and-set), so the same refresh token never works twice (docs/security.md).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add ``token_generation`` (0 for existing users)."""
    op.add_column(
        "dashboard_users",
        sa.Column("token_generation", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    """Drop ``token_generation``."""
    with op.batch_alter_table("dashboard_users") as batch:
        batch.drop_column("token_generation")
