"""``upsell_sequences``: NGX_Closer upsell sequences, one active per customer at most."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, Index, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from nexus_crm.kit.ids import uuid7
from nexus_crm.kit.time import utcnow
from nexus_crm.kit.types import UtcDateTime
from nexus_crm.models.base import Base

SEQUENCE_STATUSES = ("active", "converted", "cancelled", "replied", "completed")
# The WHERE of the partial unique index: at most one active sequence per customer.
ACTIVE_SEQUENCE_WHERE = "status = 'active'"


class UpsellSequence(Base):
    """A multi-step upsell of one customer from ``current_tier`` to ``recommended_tier``."""

    __tablename__ = "upsell_sequences"
    __table_args__ = (
        Index(
            "uq_upsell_sequences_active",
            "user_id",
            unique=True,
            sqlite_where=text(ACTIVE_SEQUENCE_WHERE),
            postgresql_where=text(ACTIVE_SEQUENCE_WHERE),
        ),
        Index("ix_upsell_sequences_user_id", "user_id"),
        Index("ix_upsell_sequences_status_created_at", "status", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    user_id: Mapped[str] = mapped_column(String(128))
    current_tier: Mapped[str] = mapped_column(String(32))
    recommended_tier: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16), default="active")
    automatic: Mapped[bool] = mapped_column(Boolean, default=False)
    alert_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
