"""``usage_alerts``: alerts raised on usage (filled by the alerts domain)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from nexus_crm.kit.ids import uuid7
from nexus_crm.kit.time import utcnow
from nexus_crm.kit.types import JSONType, UtcDateTime
from nexus_crm.models.base import Base

OPEN_ALERT_STATUSES = ("active", "acknowledged")
ALERT_STATUSES = (*OPEN_ALERT_STATUSES, "resolved", "dismissed")


class UsageAlert(Base):
    """One alert about a subject (``user:<id>`` or ``agent:<id>``) in one period.

    A partial unique index keeps at most one open alert per (type, subject, period).
    """

    __tablename__ = "usage_alerts"
    __table_args__ = (
        Index(
            "uq_usage_alerts_open",
            "alert_type",
            "subject",
            "period_key",
            unique=True,
            sqlite_where=text("status IN ('active', 'acknowledged')"),
            postgresql_where=text("status IN ('active', 'acknowledged')"),
        ),
        Index("ix_usage_alerts_status_created_at", "status", "created_at"),
        Index("ix_usage_alerts_user_id", "user_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    alert_type: Mapped[str] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="active")
    subject: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[str | None] = mapped_column(String(128))
    agent_id: Mapped[str | None] = mapped_column(String(64))
    period_key: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
    snoozed_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    dismissed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
