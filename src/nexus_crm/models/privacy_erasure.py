"""``privacy_erasures``: customers erased on request (GDPR/CCPA), known only by a keyed hash."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from nexus_crm.kit.ids import uuid7
from nexus_crm.kit.types import UtcDateTime
from nexus_crm.models.base import Base


class PrivacyErasure(Base):
    """An erasure: ``subject_hash`` is HMAC-SHA256(user_id), never the id itself.

    Events of the customer are suppressed until a new subscription (``resubscribed_at``)
    and then only those that happened from that moment on (docs/security.md).
    """

    __tablename__ = "privacy_erasures"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    subject_hash: Mapped[str] = mapped_column(String(64), unique=True)
    erased_at: Mapped[datetime] = mapped_column(UtcDateTime)
    resubscribed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
