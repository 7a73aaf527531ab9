"""What the write path tells the rest of the system: usage was stored."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from nexus_crm.kit.events import DomainEvent


@dataclass(frozen=True, slots=True)
class UsageStored(DomainEvent):
    """New usage events were stored for these customers (duplicates are not news).

    ``inserted`` holds the stored rows for the live stream; a history import announces its
    customers once at the end with no rows (it is not streamed).
    """

    user_ids: tuple[str, ...]
    at: datetime
    inserted: tuple[Mapping[str, Any], ...] = ()
