"""Lifecycle transitions (alerts, upsell sequences): their rows and audit-trail entries."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from nexus_crm.kit.ids import uuid7


def audit_entry(kind: str, row: Mapping[str, Any], details: dict[str, Any]) -> dict[str, Any]:
    """The audit entry of a ``<kind>_id`` transition row; ``details`` gain the row's note."""
    if row["note"]:
        details["note"] = row["note"]
    return {
        "actor": row["actor"],
        "action": f"{kind}.{row['action']}",
        "target": f"{kind}:{row[f'{kind}_id']}",
        "at": row["at"],
        "details": details,
    }


def transition_row(
    kind: str, subject_id: uuid.UUID, action: str, before: str | None, after: str, **rest: Any
) -> dict[str, Any]:
    """A transitions-table row: a fresh time-ordered id, ``<kind>_id``, the move, ``rest``."""
    return {
        "id": uuid7(),
        f"{kind}_id": subject_id,
        "action": action,
        "from_status": before,
        "to_status": after,
        **rest,
    }
