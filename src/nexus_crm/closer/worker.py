"""The sequence worker: claims due steps, sends them, records the outcome.

Delivery guarantee (docs/upsell.md): a step is sent at most once. A worker claims due steps
and commits them as ``sending`` *before* anything leaves; only ``scheduled`` steps are ever
claimed, so no other worker (PostgreSQL: ``FOR UPDATE SKIP LOCKED``; SQLite: one writer at a
time) and no later round can send them again. A failed send goes back to ``scheduled`` with
backoff until UPSELL_MAX_ATTEMPTS. If the worker dies between the send and the outcome's
commit, the step stays ``sending`` and is later marked ``failed`` (outcome unknown), never
re-sent: we would rather miss one email than send it twice.

A message that cannot be built (a template error, a line separator in a customer's name) is
a permanent failure of its own step only: it is claimed like the others, then recorded as
``failed`` with the reason, never retried, and the rest of the round is sent (issue 15).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.audit.service import record as audit_record
from nexus_crm.closer import repository as repo
from nexus_crm.closer.content import Rendered, figures, render
from nexus_crm.closer.delivery import DeliveryError, Outgoing, Sender, Undeliverable, send
from nexus_crm.closer.flows import log_transitions, transition
from nexus_crm.closer.schemas import SYSTEM
from nexus_crm.db import run_transaction
from nexus_crm.kit.time import local_day, utcnow
from nexus_crm.models import UpsellSequence, UpsellStep
from nexus_crm.settings import Settings

log = logging.getLogger("nexus_crm.closer.worker")
MAX_BACKOFF = timedelta(hours=6)
BATCH = 50
WORKER_ACTOR = "system:upsell-worker"  # the audit actor of automatic sends


@dataclass
class Round:
    """What one worker round did."""

    sent: list[Outgoing] = field(default_factory=list)
    retried: int = 0
    failed: int = 0


def backoff(settings: Settings, attempts: int) -> timedelta:
    """Wait before attempt ``attempts + 1``: base × 2^(attempts − 1), at most 6 hours."""
    delay = timedelta(seconds=settings.upsell_retry_base_seconds * 2 ** max(attempts - 1, 0))
    return min(delay, MAX_BACKOFF)


async def _render(
    session: AsyncSession, step: UpsellStep, seq: UpsellSequence, settings: Settings, now: datetime
) -> tuple[Rendered | None, str | None]:
    """The step's message, or why it cannot be rendered."""
    try:
        facts = await figures(session, seq, local_day(now, settings.tz))
        templates = settings.upsell_templates_dir
        return render(step, seq, facts, locale=settings.locale, templates_dir=templates), None
    except SQLAlchemyError:
        raise  # the database failed, not this message: the round fails and is retried
    except Exception as exc:  # any template or data error fails this step alone, for good
        log.warning("upsell step %s not rendered: %s: %s", step.id, type(exc).__name__, exc)
        return None, f"cannot render the message: {type(exc).__name__}: {exc}"


async def _prepare(
    session: AsyncSession, step: UpsellStep, seq: UpsellSequence, settings: Settings, now: datetime
) -> Outgoing:
    message, problem = await _render(session, step, seq, settings, now)
    return Outgoing(
        step_id=step.id,
        sequence_id=seq.id,
        user_id=seq.user_id,
        index=step.step_index,
        kind=step.kind,
        channel=step.channel,
        message_id=step.message_id,
        message=message,
        problem=problem,
    )


async def claim_due(
    session: AsyncSession, *, settings: Settings, now: datetime, limit: int = BATCH
) -> list[Outgoing]:
    """Claim due steps (committed as ``sending`` by the caller) and render them.

    A step that cannot be rendered is returned too, with its ``problem``: its failure is
    recorded after the claim, like a send's, under the sequence's lock.
    """
    stale = now - timedelta(seconds=settings.upsell_sending_timeout_seconds)
    if await repo.abandon_stale_sending(session, claimed_before=stale):
        log.warning("upsell steps left sending by a stopped worker were marked failed")
    claimed = await repo.claim_candidates(session, now=now, limit=limit)
    for step, _ in claimed:
        step.status, step.attempts, step.claimed_at = "sending", step.attempts + 1, now
    await session.flush()
    return [await _prepare(session, step, seq, settings, now) for step, seq in claimed]


async def _complete_if_done(session: AsyncSession, seq: UpsellSequence, now: datetime) -> None:
    if seq.status == "active" and not await repo.unfinished_steps(session, seq.id):
        seq.status, seq.updated_at, seq.ended_at = "completed", now, now
        note = "every step was sent or failed"
        await log_transitions(
            session,
            [
                transition(
                    seq.id, "completed", "active", "completed", actor=SYSTEM, at=now, note=note
                )
            ],
        )


async def record(
    session: AsyncSession,
    *,
    out: Outgoing,
    error: DeliveryError | None,
    settings: Settings,
    now: datetime,
) -> None:
    """Record a send's outcome: sent, retry later, or failed; complete a finished sequence."""
    seq = await repo.lock_sequence(session, out.sequence_id)  # sequence, then step: lock order
    step = await repo.lock_step(session, out.step_id)
    if seq is None or step is None or step.status != "sending":
        return
    if error is None:
        step.status, step.sent_at, step.last_error = "sent", now, None
    elif isinstance(error, Undeliverable) or step.attempts >= settings.upsell_max_attempts:
        step.status, step.last_error = "failed", str(error)
    elif seq.status != "active":
        step.status, step.last_error = "skipped", str(error)
    else:
        step.status, step.last_error = "scheduled", str(error)
        step.next_attempt_at = now + backoff(settings, step.attempts)
    await session.flush()
    await _audit_send(session, out, step.status, step.attempts, now)
    await _complete_if_done(session, seq, now)


async def _audit_send(
    session: AsyncSession, out: Outgoing, status: str, attempts: int, now: datetime
) -> None:
    """An automatic action in the audit trail: a step sent, retried, failed or skipped."""
    action = {"sent": "sequence.step_sent", "scheduled": "sequence.step_retry"}.get(
        status, f"sequence.step_{status}"
    )
    details = {
        "step": out.kind,
        "channel": out.channel,
        "step_id": str(out.step_id),
        "attempts": attempts,
    }
    await audit_record(
        session,
        actor=WORKER_ACTOR,
        action=action,
        target=f"sequence:{out.sequence_id}",
        details=details,
        at=now,
    )


async def _attempt(out: Outgoing, settings: Settings, sender: Sender) -> DeliveryError | None:
    if out.message is None:
        return Undeliverable(out.problem or "the message was not rendered")
    try:
        await sender(out, settings)
    except DeliveryError as exc:
        log.warning("upsell step %s (%s) not delivered: %s", out.step_id, out.kind, exc)
        return exc
    except Exception as exc:
        # Not an outage: a bug or a message that cannot be built. It must not stop the round's
        # other steps, and it is not retried: we cannot tell whether anything left.
        log.exception("upsell step %s (%s) failed unexpectedly", out.step_id, out.kind)
        return Undeliverable(f"cannot send the message: {type(exc).__name__}: {exc}")
    return None


async def deliver_due(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    now: datetime | None = None,
    sender: Sender = send,
    limit: int = BATCH,
) -> Round:
    """One round: claim due steps, send each, record each outcome in its own transaction."""
    at = now or utcnow()
    claimed = await run_transaction(
        sessions, partial(claim_due, settings=settings, now=at, limit=limit)
    )
    done = Round()
    for out in claimed:
        error = await _attempt(out, settings, sender)
        await run_transaction(
            sessions, partial(record, out=out, error=error, settings=settings, now=now or utcnow())
        )
        if error is None:
            done.sent.append(out)
        elif isinstance(error, Undeliverable):
            done.failed += 1
        else:
            done.retried += 1
    return done


async def run_worker(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, interval_s: float
) -> None:
    """Deliver due steps every ``interval_s`` seconds until cancelled; failures are logged."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            done = await deliver_due(sessions, settings)
        except Exception:
            log.exception("upsell delivery round failed; retrying in %s s", interval_s)
            continue
        if done.sent or done.retried:
            log.info("upsell: %d sent, %d to retry", len(done.sent), done.retried)
