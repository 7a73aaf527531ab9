"""Privacy services (GDPR/CCPA): export, erasure, suppression of erased customers, retention.

Rules (docs/security.md):
- erasure deletes raw events and alerts, re-keys the daily aggregates, the customer row
  (without email, name, billing anchor; status ``erased``), the subscription history and
  the upsell sequences to one random ``erased:<uuid>`` id, so totals per day, agent and
  tier stay true while nothing links them back to the person;
- the erasure itself is remembered only as HMAC-SHA256(user_id) under a key derived from
  PRIVACY_HASH_KEY (or, when unset, SESSION_SECRET), so that events GENESIS sends again are
  suppressed (answered, not stored) until a new subscription; after it, events that
  happened from then on are stored;
- an erasure and the ingest of the same customer exclude each other (``lock_subjects``):
  an event is either stored before the erasure, and erased by it, or suppressed after it.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.audit import service as audit
from nexus_crm.errors import NotFound
from nexus_crm.privacy import repository as repo
from nexus_crm.privacy.schemas import ERASED_PREFIX, ErasureCounts, ErasureResult, RetentionResult
from nexus_crm.settings import Settings

ERASURE_KEY_LABEL = b"nexus-crm/privacy-erasure/v1"


def erasure_key(settings: Settings) -> bytes:
    """The HMAC key of erasure records: from PRIVACY_HASH_KEY, else from SESSION_SECRET."""
    given = settings.privacy_hash_key
    secret = given.get_secret_value() if given is not None else settings.session_secret
    return hmac.new(secret.encode(), ERASURE_KEY_LABEL, hashlib.sha256).digest()


def subject_hash(key: bytes, user_id: str) -> str:
    """HMAC-SHA256 of a user id (hex): what an erasure record keeps instead of the id."""
    return hmac.new(key, user_id.encode(), hashlib.sha256).hexdigest()


def _not_found(user_id: str) -> NotFound:
    return NotFound(
        f"no data is stored about customer {user_id!r}", field="user_id", user_id=user_id
    )


async def begin_export(session: AsyncSession, *, user_id: str, actor: str) -> int:
    """Check that the customer is known (404 if not), audit the export; return its event count."""
    if not await repo.has_data(session, user_id):
        raise _not_found(user_id)
    events = await repo.count_events(session, user_id)
    await audit.record(
        session,
        actor=actor,
        action="privacy.export",
        target=f"customer:{user_id}",
        details={"events": events},
    )
    return events


async def export_head(session: AsyncSession, *, user_id: str) -> dict[str, Any]:
    """Everything stored about a customer except the raw events (streamed separately)."""
    return {
        "customer": await repo.customer(session, user_id),
        "subscription_changes": await repo.subscription_changes(session, user_id),
        "daily_usage": await repo.daily_usage(session, user_id),
        "alerts": await repo.alerts(session, user_id),
        "upsell_sequences": await repo.sequences(session, user_id),
    }


async def export_events_page(
    session: AsyncSession, *, user_id: str, after: tuple[datetime, Any] | None, limit: int
) -> list[dict[str, Any]]:
    """One page of the customer's raw events in (occurred_at, id) order."""
    return await repo.events_page(session, user_id, after, limit)


async def _erase_rows(session: AsyncSession, user_id: str, now: datetime) -> ErasureCounts:
    anon = f"{ERASED_PREFIX}{uuid.uuid4()}"
    return ErasureCounts(
        events_deleted=await repo.delete_events(session, user_id),
        daily_rows_anonymised=await repo.rekey_daily(session, user_id, anon),
        alerts_deleted=await repo.delete_alerts(session, user_id),
        sequences_anonymised=await repo.anonymise_sequences(session, user_id, anon, now),
        subscription_changes_anonymised=await repo.rekey_subscription_changes(
            session, user_id, anon
        ),
        customer_rows_anonymised=await repo.anonymise_customer(session, user_id, anon),
    )


async def erase_customer(
    session: AsyncSession, *, user_id: str, key: bytes, actor: str, now: datetime
) -> ErasureResult:
    """Erase a customer's personal data and raw events, keep anonymous aggregates; audited."""
    digest = subject_hash(key, user_id)
    # Locked first: ingest of the customer (and a second erasure) waits for the commit, and
    # what it stored before is committed and seen here (PostgreSQL reads committed data).
    await repo.lock_subjects(session, [user_id], exclusive=True)
    await repo.lock_customer(session, user_id)
    if not await repo.has_data(session, user_id):
        known = (await repo.erasures(session, [digest])).get(digest)
        if known is None:
            raise _not_found(user_id)
        return ErasureResult(user_id=user_id, status="already_erased", erased_at=known.erased_at)
    counts = await _erase_rows(session, user_id, now)
    await repo.record_erasure(session, digest, now)
    await audit.record(
        session,
        actor=actor,
        action="privacy.erase",
        target=f"customer:{user_id}",
        details=counts.model_dump(),
    )
    return ErasureResult(user_id=user_id, status="erased", erased_at=now, counts=counts)


async def suppress_erased(
    session: AsyncSession, rows: Sequence[Mapping[str, Any]], key: bytes
) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """Split event rows into (to store, suppressed): erased customers' events are suppressed.

    An event is stored again only after a new subscription, and only if it happened at or
    after that subscription's time. Checked under the customers' erasure locks (shared), held
    until commit: a running erasure is waited for, and a later one waits for this batch.
    """
    users = {str(r["user_id"]) for r in rows}
    await repo.lock_subjects(session, users, exclusive=False)
    hashes = {u: subject_hash(key, u) for u in users}
    found = await repo.erasures(session, sorted(set(hashes.values())))
    if not found:
        return list(rows), []
    kept: list[Mapping[str, Any]] = []
    suppressed: list[Mapping[str, Any]] = []
    for r in rows:
        erasure = found.get(hashes[str(r["user_id"])])
        since = erasure.resubscribed_at if erasure else None
        blocked = erasure is not None and (since is None or r["occurred_at"] < since)
        (suppressed if blocked else kept).append(r)
    return kept, suppressed


async def admit_subscription(
    session: AsyncSession, *, user_id: str, status: str, at: datetime, key: bytes
) -> bool:
    """Whether a subscription update may be stored; an active one after an erasure lifts it.

    Like ``suppress_erased``, under the customer's erasure lock (shared) until commit.
    """
    await repo.lock_subjects(session, [user_id], exclusive=False)
    digest = subject_hash(key, user_id)
    erasure = (await repo.erasures(session, [digest])).get(digest)
    if erasure is None or erasure.resubscribed_at is not None:
        return True
    if status != "active" or at <= erasure.erased_at:
        return False  # a stale or cancelling update would bring the erased data back
    await repo.mark_resubscribed(session, digest, at)
    return True


async def apply_retention(
    session: AsyncSession, *, days: int, now: datetime, actor: str, dry_run: bool = False
) -> RetentionResult:
    """Delete raw events older than ``days`` (aggregates stay); audited unless a dry run."""
    if days <= 0:
        return RetentionResult(retention_days=days, events=0, deleted=0, dry_run=dry_run)
    cutoff = now - timedelta(days=days)
    if dry_run:
        events = await repo.count_events_before(session, cutoff)
        return RetentionResult(
            retention_days=days, cutoff=cutoff, events=events, deleted=0, dry_run=True
        )
    deleted = await repo.delete_events_before(session, cutoff)
    if deleted:  # a run that found nothing changed nothing: no audit row every hour
        await audit.record(
            session,
            actor=actor,
            action="privacy.retention",
            target="events:raw",
            details={"deleted": deleted, "days": days, "cutoff": cutoff.isoformat()},
        )
    return RetentionResult(
        retention_days=days, cutoff=cutoff, events=deleted, deleted=deleted, dry_run=False
    )
