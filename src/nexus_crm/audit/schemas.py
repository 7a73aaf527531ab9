"""Audit trail API shapes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class AuditEntryOut(BaseModel):
    """One recorded mutation."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    at: datetime
    actor: str = Field(examples=["user:ana@ngx.com", "key:1a2b3c4d", "system:scheduler"])
    action: str = Field(examples=["alert.acknowledge"])
    target: str = Field(examples=["alert:0191e7a0-…"])
    source_ip: str | None = None
    details: dict[str, Any]


class AuditList(BaseModel):
    """Audit rows, newest first."""

    count: int
    entries: list[AuditEntryOut]
