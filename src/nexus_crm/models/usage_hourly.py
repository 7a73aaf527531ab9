"""``agent_usage_hourly``: hour × agent aggregates (all customers), incremented on ingest.

For hour-of-day seasonality and response-time degradation per agent. ``hour`` is the UTC
start of the hour; the response-time histogram has the buckets of ``agent_usage_daily``.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table

from nexus_crm.kit.types import UtcDateTime
from nexus_crm.models.base import Base
from nexus_crm.models.usage_daily import RESPONSE_TIME_BUCKETS

agent_usage_hourly = Table(
    "agent_usage_hourly",
    Base.metadata,
    Column("hour", UtcDateTime, primary_key=True),
    Column("agent_id", String(64), primary_key=True),
    Column("interactions", BigInteger, nullable=False),
    Column("tokens", BigInteger, nullable=False),
    Column("response_time_sum_ms", BigInteger, nullable=False),
    Column("response_time_max_ms", Integer, nullable=False),
    *(
        Column(name, BigInteger, nullable=False, server_default="0")
        for name in RESPONSE_TIME_BUCKETS
    ),
    Index("ix_agent_usage_hourly_agent_id_hour", "agent_id", "hour"),
)
