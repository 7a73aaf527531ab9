"""Upsell sequences (NGX_Closer): sequences, their steps and their audit trail.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

TS = sa.DateTime(timezone=True)
ACTIVE = sa.text("status = 'active'")


def _sequences() -> None:
    op.create_table(
        "upsell_sequences",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("current_tier", sa.String(32), nullable=False),
        sa.Column("recommended_tier", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("automatic", sa.Boolean(), nullable=False),
        sa.Column("alert_id", sa.Uuid(), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("ended_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_upsell_sequences"),
    )
    op.create_index(
        "uq_upsell_sequences_active",
        "upsell_sequences",
        ["user_id"],
        unique=True,
        sqlite_where=ACTIVE,
        postgresql_where=ACTIVE,
    )
    op.create_index("ix_upsell_sequences_user_id", "upsell_sequences", ["user_id"])
    op.create_index(
        "ix_upsell_sequences_status_created_at", "upsell_sequences", ["status", "created_at"]
    )


def _steps() -> None:
    op.create_table(
        "upsell_steps",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("sequence_id", sa.Uuid(), nullable=False),
        sa.Column("step_index", sa.SmallInteger(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("due_at", TS, nullable=False),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("claimed_at", TS, nullable=True),
        sa.Column("sent_at", TS, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_upsell_steps"),
        sa.UniqueConstraint(
            "sequence_id", "step_index", name="uq_upsell_steps_sequence_id_step_index"
        ),
        sa.ForeignKeyConstraint(
            ["sequence_id"],
            ["upsell_sequences.id"],
            name="fk_upsell_steps_sequence_id_upsell_sequences",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_upsell_steps_status_next_attempt_at", "upsell_steps", ["status", "next_attempt_at"]
    )


def _events() -> None:
    op.create_table(
        "upsell_sequence_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("sequence_id", sa.Uuid(), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("automatic", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_upsell_sequence_events"),
        sa.ForeignKeyConstraint(
            ["sequence_id"],
            ["upsell_sequences.id"],
            name="fk_upsell_sequence_events_sequence_id_upsell_sequences",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_upsell_sequence_events_sequence_id_at",
        "upsell_sequence_events",
        ["sequence_id", "at"],
    )


def upgrade() -> None:
    """Create the upsell sequence tables."""
    _sequences()
    _steps()
    _events()


def downgrade() -> None:
    """Drop the upsell sequence tables."""
    op.drop_table("upsell_sequence_events")
    op.drop_table("upsell_steps")
    op.drop_table("upsell_sequences")
