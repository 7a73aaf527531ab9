"""``usage_tier_limits``: monthly limits and price of each subscription tier."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from nexus_crm.kit.time import utcnow
from nexus_crm.kit.types import UtcDateTime
from nexus_crm.models.base import Base


class UsageTierLimit(Base):
    """Limits of one tier; ``rank`` orders tiers from cheapest (1) upwards."""

    __tablename__ = "usage_tier_limits"

    tier: Mapped[str] = mapped_column(String(32), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(64))
    rank: Mapped[int] = mapped_column(Integer, unique=True)
    monthly_tokens: Mapped[int] = mapped_column(BigInteger)
    monthly_interactions: Mapped[int] = mapped_column(BigInteger)
    monthly_price_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
