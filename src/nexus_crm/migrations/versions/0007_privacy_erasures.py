"""Privacy: ``privacy_erasures``, the keyed hashes of erased customers.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create ``privacy_erasures``."""
    op.create_table(
        "privacy_erasures",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subject_hash", sa.String(64), nullable=False),
        sa.Column("erased_at", TS, nullable=False),
        sa.Column("resubscribed_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_privacy_erasures"),
        sa.UniqueConstraint("subject_hash", name="uq_privacy_erasures_subject_hash"),
    )


def downgrade() -> None:
    """Drop ``privacy_erasures``."""
    op.drop_table("privacy_erasures")
