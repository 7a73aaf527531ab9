"""Alert transitions, alert lifecycle timestamps, hourly per-agent aggregates.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

TS = sa.DateTime(timezone=True)
# Frozen copy of the histogram buckets (as in 0001).
RT_BUCKETS = [
    f"rt_le_{b}"
    for b in (
        50,
        100,
        150,
        200,
        250,
        300,
        400,
        500,
        650,
        800,
        1000,
        1250,
        1500,
        2000,
        2500,
        3000,
        4000,
        5000,
        6500,
        8000,
        10000,
        15000,
        20000,
        30000,
        60000,
    )
] + ["rt_gt_60000"]


def _alert_events() -> None:
    op.create_table(
        "usage_alert_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("alert_id", sa.Uuid(), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("snoozed_until", TS, nullable=True),
        sa.Column("at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_usage_alert_events"),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["usage_alerts.id"],
            name="fk_usage_alert_events_alert_id_usage_alerts",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_usage_alert_events_alert_id_at", "usage_alert_events", ["alert_id", "at"])


def _hourly() -> None:
    op.create_table(
        "agent_usage_hourly",
        sa.Column("hour", TS, nullable=False),
        sa.Column("agent_id", sa.String(64), nullable=False),
        sa.Column("interactions", sa.BigInteger(), nullable=False),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
        sa.Column("response_time_sum_ms", sa.BigInteger(), nullable=False),
        sa.Column("response_time_max_ms", sa.Integer(), nullable=False),
        *(sa.Column(b, sa.BigInteger(), server_default="0", nullable=False) for b in RT_BUCKETS),
        sa.PrimaryKeyConstraint("hour", "agent_id", name="pk_agent_usage_hourly"),
    )
    op.create_index(
        "ix_agent_usage_hourly_agent_id_hour", "agent_usage_hourly", ["agent_id", "hour"]
    )


def upgrade() -> None:
    """Add alert transitions and lifecycle timestamps, and the hourly aggregates."""
    op.add_column("usage_alerts", sa.Column("acknowledged_at", TS, nullable=True))
    op.add_column("usage_alerts", sa.Column("dismissed_at", TS, nullable=True))
    _alert_events()
    _hourly()


def downgrade() -> None:
    """Drop what 0002 added."""
    op.drop_table("agent_usage_hourly")
    op.drop_table("usage_alert_events")
    with op.batch_alter_table("usage_alerts") as batch:
        batch.drop_column("dismissed_at")
        batch.drop_column("acknowledged_at")
