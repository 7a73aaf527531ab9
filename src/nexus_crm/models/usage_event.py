"""``agent_usage_events``: one row per agent interaction reported by GENESIS."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Date, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from nexus_crm.kit.ids import uuid7
from nexus_crm.kit.types import JSONType, UtcDateTime
from nexus_crm.models.base import Base


class AgentUsageEvent(Base):
    """A single interaction: who, which agent, how many tokens, how fast, when."""

    __tablename__ = "agent_usage_events"
    __table_args__ = (
        Index("ix_agent_usage_events_user_id_occurred_at", "user_id", "occurred_at"),
        Index("ix_agent_usage_events_occurred_at", "occurred_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    event_id: Mapped[str] = mapped_column(String(128), unique=True)
    user_id: Mapped[str] = mapped_column(String(128))
    agent_id: Mapped[str] = mapped_column(String(64))
    session_id: Mapped[str] = mapped_column(String(128))
    tokens_used: Mapped[int] = mapped_column(BigInteger)
    response_time_ms: Mapped[int] = mapped_column(Integer)
    subscription_tier: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    day: Mapped[date] = mapped_column(Date)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    event_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
