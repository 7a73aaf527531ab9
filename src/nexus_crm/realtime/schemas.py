"""What the live stream carries: usage events and the KPI snapshot (``data`` of a message)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field


class UsageEventOut(BaseModel):
    """One accepted usage event as the live stream shows it."""

    event_id: str
    user_id: str
    agent_id: str
    tokens_used: int
    response_time_ms: int
    subscription_tier: str
    timestamp: datetime


class UsageBatch(BaseModel):
    """``data`` of a ``usage`` message: events accepted together (or coalesced)."""

    count: int
    events: list[UsageEventOut]


class AgentKpi(BaseModel):
    """Today's use of one agent."""

    agent_id: str
    interactions: int
    tokens: int


class KpiSnapshot(BaseModel):
    """``data`` of a ``metrics`` message: today's KPIs in the configured time zone."""

    day: date
    interactions: int
    tokens: int
    active_users: int
    avg_response_time_ms: float | None
    p95_response_time_ms: float | None
    agents: list[AgentKpi] = Field(default_factory=list)
    at: datetime = Field(description="when the snapshot was computed")
