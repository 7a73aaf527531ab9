"""``upsell_sequence_events``: the audit trail of every sequence (who, when, why, automatic)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from nexus_crm.kit.ids import uuid7
from nexus_crm.kit.time import utcnow
from nexus_crm.kit.types import UtcDateTime
from nexus_crm.models.base import Base


class UpsellSequenceEvent(Base):
    """One transition of a sequence; ``from_status`` is NULL when it was started."""

    __tablename__ = "upsell_sequence_events"
    __table_args__ = (Index("ix_upsell_sequence_events_sequence_id_at", "sequence_id", "at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    sequence_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("upsell_sequences.id", ondelete="CASCADE")
    )
    action: Mapped[str] = mapped_column(String(16))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(200))
    automatic: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
