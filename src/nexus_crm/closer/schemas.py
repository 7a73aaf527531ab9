"""Upsell sequences as the API shows them, and the bodies it accepts."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from nexus_crm.kit.text import NO_NUL

STEP_KINDS = ("initial", "follow_up", "last_offer")
AUTO_UPSELL_ACTOR = "system:auto-upsell"
SYSTEM = "system"


class SequenceStatus(StrEnum):
    """Where a sequence is: running (active) or how it ended."""

    ACTIVE = "active"
    CONVERTED = "converted"
    CANCELLED = "cancelled"
    REPLIED = "replied"
    COMPLETED = "completed"


class SequenceIn(BaseModel):
    """``POST /upsell-sequences``: who, to which tier, and why (what the MCP tool sends)."""

    model_config = ConfigDict(extra="forbid")

    user_id: str = Field(min_length=1, max_length=128, pattern=NO_NUL, examples=["pro_user_123"])
    recommended_tier: str = Field(min_length=1, max_length=32, pattern=NO_NUL, examples=["elite"])
    reason: str = Field(
        min_length=1, max_length=500, pattern=NO_NUL, examples=["High usage pattern"]
    )


class NoteIn(BaseModel):
    """The optional body of ``cancel`` and ``replied``."""

    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(None, max_length=2000, pattern=NO_NUL)


class StepOut(BaseModel):
    """One message of a sequence and its delivery."""

    model_config = ConfigDict(from_attributes=True, populate_by_name=True)

    index: int = Field(validation_alias="step_index")
    kind: str = Field(examples=list(STEP_KINDS))
    channel: str = Field(examples=["email", "webhook"])
    due_at: datetime
    status: str = Field(examples=["scheduled", "sending", "sent", "failed", "skipped"])
    attempts: int
    sent_at: datetime | None
    last_error: str | None


class SequenceTransitionOut(BaseModel):
    """One entry of a sequence's audit trail (``from_status`` null: started)."""

    model_config = ConfigDict(from_attributes=True)

    action: str = Field(examples=["started", "cancelled", "converted"])
    from_status: str | None
    to_status: str
    actor: str = Field(examples=["key:1a2b3c4d", "user:ana@ngx.mx", "system:auto-upsell"])
    automatic: bool
    note: str | None
    at: datetime


class SequenceOut(BaseModel):
    """An upsell sequence with its steps and audit trail."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    user_id: str
    current_tier: str = Field(description="the customer's tier when the sequence started")
    recommended_tier: str
    reason: str
    status: SequenceStatus
    automatic: bool = Field(description="started by auto-upsell, with no human")
    created_by: str = Field(description="the actor who started it")
    created_at: datetime
    ended_at: datetime | None
    steps: list[StepOut] = Field(default_factory=list)
    history: list[SequenceTransitionOut] = Field(default_factory=list)


class StartResult(BaseModel):
    """The answer of ``POST /upsell-sequences``: the sequence, and whether it is new."""

    sequence: SequenceOut
    created: bool = Field(description="false: the customer already had an active sequence")


class SequenceList(BaseModel):
    """``GET /upsell-sequences``."""

    count: int
    sequences: list[SequenceOut]
