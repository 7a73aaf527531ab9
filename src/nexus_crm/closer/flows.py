"""How sequences change: started with their steps, ended once, each step recorded.

Used by the closer services; every function flushes and never commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.audit.service import record_many
from nexus_crm.closer import repository as repo
from nexus_crm.closer.schemas import STEP_KINDS, SequenceOut, SequenceTransitionOut, StepOut
from nexus_crm.kit.ids import uuid7
from nexus_crm.kit.transitions import audit_entry, transition_row
from nexus_crm.models import UpsellSequence, UpsellStep


def transition(
    sequence_id: uuid.UUID,
    action: str,
    before: str | None,
    after: str,
    *,
    actor: str,
    at: datetime,
    automatic: bool = False,
    note: str | None = None,
) -> dict[str, Any]:
    """A row of ``upsell_sequence_events``."""
    row = transition_row("sequence", sequence_id, action, before, after, actor=actor, at=at)
    row.update(automatic=automatic, note=note)
    return row


def _audit_entry(row: dict[str, Any]) -> dict[str, Any]:
    details = {"from": row["from_status"], "to": row["to_status"], "automatic": row["automatic"]}
    return audit_entry("sequence", row, details)


async def log_transitions(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Record sequence transitions in the sequence's history and in the audit trail."""
    await repo.add_transitions(session, rows)
    await record_many(session, [_audit_entry(r) for r in rows])


def new_steps(
    sequence_id: uuid.UUID, *, start: datetime, days: Sequence[int], channel: str
) -> list[UpsellStep]:
    """The three steps (initial, follow-up, last offer) due ``days`` after ``start``."""
    steps = []
    for index, (kind, day) in enumerate(zip(STEP_KINDS, days, strict=True)):
        due = start + timedelta(days=day)
        steps.append(
            UpsellStep(
                id=uuid7(),
                sequence_id=sequence_id,
                step_index=index,
                kind=kind,
                channel=channel,
                due_at=due,
                next_attempt_at=due,
                status="scheduled",
                attempts=0,
                message_id=f"msg_{uuid.uuid4().hex}",
            )
        )
    return steps


async def views(session: AsyncSession, sequences: Sequence[UpsellSequence]) -> list[SequenceOut]:
    """API views of sequences, each with its steps and audit trail."""
    ids = [s.id for s in sequences]
    steps = await repo.steps_of(session, ids)
    history = await repo.transitions_of(session, ids)
    return [
        SequenceOut.model_validate(s).model_copy(
            update={
                "steps": [StepOut.model_validate(st) for st in steps[s.id]],
                "history": [SequenceTransitionOut.model_validate(t) for t in history[s.id]],
            }
        )
        for s in sequences
    ]


async def end(
    session: AsyncSession,
    seq: UpsellSequence,
    *,
    to: str,
    actor: str,
    now: datetime,
    note: str | None = None,
    automatic: bool = False,
) -> None:
    """End a (locked) sequence: set its status, skip the steps not yet sent, record it."""
    before = seq.status
    seq.status, seq.updated_at, seq.ended_at = to, now, now
    await session.flush()
    await repo.skip_scheduled_steps(session, seq.id)
    row = transition(seq.id, to, before, to, actor=actor, at=now, automatic=automatic, note=note)
    await log_transitions(session, [row])
