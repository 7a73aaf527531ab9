"""``dashboard_users``: people who log in to the dashboard (argon2 password hashes)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Final

from sqlalchemy import Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from nexus_crm.kit.ids import uuid7
from nexus_crm.kit.time import utcnow
from nexus_crm.kit.types import UtcDateTime
from nexus_crm.models.base import Base

USER_ROLES: Final = ("admin", "analyst", "sales")


class DashboardUser(Base):
    """A dashboard user; ``session_epoch`` grows on logout, which voids older cookies."""

    __tablename__ = "dashboard_users"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    # JWT refresh rotation: a refresh token works only at the generation it was issued at.
    token_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
