"""Initial schema: usage events, daily aggregates, alerts, tiers, customers, keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)
# Frozen copies: later changes to the application's constants must not rewrite history.
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
TIERS = (
    # tier, display name, rank, monthly tokens, monthly interactions, price (cents)
    ("essential", "Essential", 1, 200_000, 1_000, 2_900),
    ("pro", "Pro", 2, 1_000_000, 5_000, 9_900),
    ("elite", "Elite", 3, 4_000_000, 20_000, 29_900),
    ("prime", "PRIME", 4, 15_000_000, 75_000, 79_900),
    ("longevity", "LONGEVITY", 5, 50_000_000, 250_000, 199_900),
)
OPEN = sa.text("status IN ('active', 'acknowledged')")


def _events() -> None:
    op.create_table(
        "agent_usage_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("agent_id", sa.String(64), nullable=False),
        sa.Column("session_id", sa.String(128), nullable=False),
        sa.Column("tokens_used", sa.BigInteger(), nullable=False),
        sa.Column("response_time_ms", sa.Integer(), nullable=False),
        sa.Column("subscription_tier", sa.String(32), nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("metadata", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_agent_usage_events"),
        sa.UniqueConstraint("event_id", name="uq_agent_usage_events_event_id"),
    )
    op.create_index("ix_agent_usage_events_occurred_at", "agent_usage_events", ["occurred_at"])
    op.create_index(
        "ix_agent_usage_events_user_id_occurred_at",
        "agent_usage_events",
        ["user_id", "occurred_at"],
    )


def _daily() -> None:
    op.create_table(
        "agent_usage_daily",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("agent_id", sa.String(64), nullable=False),
        sa.Column("interactions", sa.BigInteger(), nullable=False),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
        sa.Column("response_time_sum_ms", sa.BigInteger(), nullable=False),
        sa.Column("response_time_max_ms", sa.Integer(), nullable=False),
        *(sa.Column(b, sa.BigInteger(), server_default="0", nullable=False) for b in RT_BUCKETS),
        sa.Column("first_at", TS, nullable=False),
        sa.Column("last_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("day", "user_id", "agent_id", name="pk_agent_usage_daily"),
    )
    op.create_index("ix_agent_usage_daily_user_id_day", "agent_usage_daily", ["user_id", "day"])
    op.create_index("ix_agent_usage_daily_agent_id_day", "agent_usage_daily", ["agent_id", "day"])


def _alerts() -> None:
    op.create_table(
        "usage_alerts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("alert_type", sa.String(40), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=True),
        sa.Column("agent_id", sa.String(64), nullable=True),
        sa.Column("period_key", sa.String(32), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("snoozed_until", TS, nullable=True),
        sa.Column("resolved_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_usage_alerts"),
    )
    op.create_index("ix_usage_alerts_status_created_at", "usage_alerts", ["status", "created_at"])
    op.create_index("ix_usage_alerts_user_id", "usage_alerts", ["user_id"])
    op.create_index(
        "uq_usage_alerts_open",
        "usage_alerts",
        ["alert_type", "subject", "period_key"],
        unique=True,
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )


def _tiers() -> None:
    table = op.create_table(
        "usage_tier_limits",
        sa.Column("tier", sa.String(32), nullable=False),
        sa.Column("display_name", sa.String(64), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("monthly_tokens", sa.BigInteger(), nullable=False),
        sa.Column("monthly_interactions", sa.BigInteger(), nullable=False),
        sa.Column("monthly_price_cents", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("tier", name="pk_usage_tier_limits"),
        sa.UniqueConstraint("rank", name="uq_usage_tier_limits_rank"),
    )
    now = datetime.now(UTC)
    op.bulk_insert(
        table,
        [
            dict(
                zip(
                    (
                        "tier",
                        "display_name",
                        "rank",
                        "monthly_tokens",
                        "monthly_interactions",
                        "monthly_price_cents",
                    ),
                    row,
                    strict=True,
                ),
                currency="USD",
                updated_at=now,
            )
            for row in TIERS
        ],
    )


def _customers() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("tier", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("billing_anchor_day", sa.SmallInteger(), nullable=True),
        sa.Column("state_at", TS, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_customers"),
        sa.UniqueConstraint("user_id", name="uq_customers_user_id"),
    )
    op.create_table(
        "subscription_changes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("from_tier", sa.String(32), nullable=True),
        sa.Column("to_tier", sa.String(32), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("changed_at", TS, nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_subscription_changes"),
    )
    op.create_index(
        "ix_subscription_changes_user_id_changed_at",
        "subscription_changes",
        ["user_id", "changed_at"],
    )


def _api_keys() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("scopes", JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
    )


def upgrade() -> None:
    """Create every table of the first release and ship the default tiers."""
    _events()
    _daily()
    _alerts()
    _tiers()
    _customers()
    _api_keys()


def downgrade() -> None:
    """Drop every table of the first release."""
    for table in (
        "api_keys",
        "subscription_changes",
        "customers",
        "usage_tier_limits",
        "usage_alerts",
        "agent_usage_daily",
        "agent_usage_events",
    ):
        op.drop_table(table)
