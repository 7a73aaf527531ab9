"""``upsell_steps``: the scheduled messages of an upsell sequence."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from nexus_crm.kit.ids import uuid7
from nexus_crm.kit.types import UtcDateTime
from nexus_crm.models.base import Base

# "sending" is claimed by a worker and committed before the message leaves (docs/upsell.md).
STEP_STATUSES = ("scheduled", "sending", "sent", "failed", "skipped")


class UpsellStep(Base):
    """One message of a sequence; ``next_attempt_at`` is its due time, moved on by retries."""

    __tablename__ = "upsell_steps"
    __table_args__ = (
        UniqueConstraint("sequence_id", "step_index"),
        Index("ix_upsell_steps_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    sequence_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("upsell_sequences.id", ondelete="CASCADE")
    )
    step_index: Mapped[int] = mapped_column(SmallInteger)
    kind: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    message_id: Mapped[str] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
