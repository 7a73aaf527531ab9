"""``audit_log``: the append-only record of every mutation (who, when, what, from where)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from nexus_crm.kit.ids import uuid7
from nexus_crm.kit.time import utcnow
from nexus_crm.kit.types import JSONType, UtcDateTime
from nexus_crm.models.base import Base


class AuditEntry(Base):
    """One mutation: ``actor`` (user:/key:/system:), ``action`` (area.verb), ``target`` (kind:id).

    Rows are only ever inserted: database triggers refuse UPDATE and DELETE (see
    ``nexus_crm.audit.ddl``) and no API edits them.
    """

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_actor_at", "actor", "at"),
        Index("ix_audit_log_action_at", "action", "at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(300))
    source_ip: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
