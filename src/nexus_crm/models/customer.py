"""``customers``: NGX customers and their current subscription state."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import SmallInteger, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from nexus_crm.kit.ids import uuid7
from nexus_crm.kit.time import utcnow
from nexus_crm.kit.types import UtcDateTime
from nexus_crm.models.base import Base


class Customer(Base):
    """A GENESIS user with a subscription; ``state_at`` is when tier/status last changed."""

    __tablename__ = "customers"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    user_id: Mapped[str] = mapped_column(String(128), unique=True)
    tier: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    email: Mapped[str | None] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(200))
    billing_anchor_day: Mapped[int | None] = mapped_column(SmallInteger)
    state_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
