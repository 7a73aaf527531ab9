"""``subscription_changes``: history of each customer's tier and status."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from nexus_crm.kit.ids import uuid7
from nexus_crm.kit.time import utcnow
from nexus_crm.kit.types import UtcDateTime
from nexus_crm.models.base import Base


class SubscriptionChange(Base):
    """The state a customer entered at ``changed_at`` (the source's own timestamp)."""

    __tablename__ = "subscription_changes"
    __table_args__ = (Index("ix_subscription_changes_user_id_changed_at", "user_id", "changed_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    user_id: Mapped[str] = mapped_column(String(128))
    from_tier: Mapped[str | None] = mapped_column(String(32))
    to_tier: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    source: Mapped[str] = mapped_column(String(32))
