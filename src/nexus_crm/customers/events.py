"""What changes to customers tell the rest of the system."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from nexus_crm.kit.events import DomainEvent


@dataclass(frozen=True, slots=True)
class SubscriptionsChanged(DomainEvent):
    """These customers' tier or status changed (an upsell sequence may have converted)."""

    user_ids: tuple[str, ...]
    at: datetime


@dataclass(frozen=True, slots=True)
class SubscriptionRecorded(DomainEvent):
    """GENESIS reported this customer's subscription (its usage limits may differ now)."""

    user_id: str
    at: datetime
