"""What the alert lifecycle tells the rest of the system: alerts were raised or changed."""

from __future__ import annotations

from dataclasses import dataclass

from nexus_crm.alerts.schemas import AlertOut
from nexus_crm.kit.events import DomainEvent


@dataclass(frozen=True, slots=True)
class AlertsChanged(DomainEvent):
    """Alerts raised, resolved or moved by a person, in the order they changed."""

    alerts: tuple[AlertOut, ...]
