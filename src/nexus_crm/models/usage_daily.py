"""``agent_usage_daily``: day × user × agent aggregates, incremented on ingest.

Response-time percentiles need more than a sum: each row keeps a fixed histogram of response
times (one counter column per bucket, non-cumulative). Histograms add up across rows, so a
p95 over any set of days, users or agents is exact to within one bucket (see
``nexus_crm.analytics.percentiles``).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Date, Index, Integer, String, Table

from nexus_crm.kit.types import UtcDateTime
from nexus_crm.models.base import Base

# Upper bounds (ms, inclusive) of the histogram buckets; a last bucket counts the rest.
RESPONSE_TIME_BOUNDS_MS: tuple[int, ...] = (
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
RESPONSE_TIME_BUCKETS: tuple[str, ...] = (
    *(f"rt_le_{b}" for b in RESPONSE_TIME_BOUNDS_MS),
    f"rt_gt_{RESPONSE_TIME_BOUNDS_MS[-1]}",
)

agent_usage_daily = Table(
    "agent_usage_daily",
    Base.metadata,
    Column("day", Date, primary_key=True),
    Column("user_id", String(128), primary_key=True),
    Column("agent_id", String(64), primary_key=True),
    Column("interactions", BigInteger, nullable=False),
    Column("tokens", BigInteger, nullable=False),
    Column("response_time_sum_ms", BigInteger, nullable=False),
    Column("response_time_max_ms", Integer, nullable=False),
    *(
        Column(name, BigInteger, nullable=False, server_default="0")
        for name in RESPONSE_TIME_BUCKETS
    ),
    Column("first_at", UtcDateTime, nullable=False),
    Column("last_at", UtcDateTime, nullable=False),
    Index("ix_agent_usage_daily_user_id_day", "user_id", "day"),
    Index("ix_agent_usage_daily_agent_id_day", "agent_id", "day"),
)


class AgentUsageDaily(Base):
    """Totals of one customer's use of one agent on one day (in the configured time zone)."""

    __table__ = agent_usage_daily
