"""``usage_alert_events``: every transition of an alert, with who, when and why."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from nexus_crm.kit.ids import uuid7
from nexus_crm.kit.time import utcnow
from nexus_crm.kit.types import UtcDateTime
from nexus_crm.models.base import Base


class UsageAlertEvent(Base):
    """One step of an alert's lifecycle; ``from_status`` is NULL when the alert was raised.

    ``action`` names the step (raised, acknowledged, resolved, dismissed, snoozed): a snooze
    keeps the status, so the status pair alone would not tell it apart.
    """

    __tablename__ = "usage_alert_events"
    __table_args__ = (Index("ix_usage_alert_events_alert_id_at", "alert_id", "at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    alert_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("usage_alerts.id", ondelete="CASCADE")
    )
    action: Mapped[str] = mapped_column(String(16))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    snoozed_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
