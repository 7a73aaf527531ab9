"""History import of subscriptions: the history is built, and re-importing changes nothing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from nexus_crm.settings import Settings
from tests.ingest.history_files import (
    T0,
    Sessions,
    load,
    problems,
    snapshot,
    write_csv,
    write_lines,
)


def subscription(user: str, tier: str, status: str, days: int, **extra: Any) -> dict[str, Any]:
    return {
        "user_id": user,
        "tier": tier,
        "status": status,
        "timestamp": (T0 + timedelta(days=days)).isoformat(),
        **extra,
    }


async def test_subscription_history_is_built_and_reimport_changes_nothing(
    sessions: Sessions, settings: Settings, tmp_path: Path
) -> None:
    subs = [
        subscription("u1", "pro", "active", 0, email="ana@example.com", name="Ana"),
        subscription("u1", "Elite", "active", 10),
        subscription("u2", "prime", "active", 30),
        subscription("u1", "elite", "cancelled", 40),
        subscription("u2", "pro", "active", 0),  # older than u2's state: history only
        subscription("u1", "elite", "active", 10),  # the same state again: nothing
    ]
    path = write_lines(tmp_path / "subs.jsonl", subs)
    counts, _ = await load(sessions, settings, path, kind="subscriptions", batch_size=2)
    assert counts.summary() == {"read": 6, "changed": 5, "unchanged": 1, "rejected": 0, "blank": 0}
    state = await snapshot(sessions)
    assert state["customers"] == [
        ("u1", "elite", "cancelled", T0 + timedelta(days=40)),
        ("u2", "prime", "active", T0 + timedelta(days=30)),
    ]
    assert [(c[0], c[2], c[4], c[5] - T0) for c in state["changes"]] == [
        ("u1", "pro", "active", timedelta(0)),
        ("u1", "elite", "active", timedelta(days=10)),
        ("u1", "elite", "cancelled", timedelta(days=40)),
        ("u2", "pro", "active", timedelta(0)),
        ("u2", "prime", "active", timedelta(days=30)),
    ]
    counts, _ = await load(sessions, settings, path, kind="subscriptions")
    assert (counts.stored, counts.unchanged) == (0, 6)
    assert await snapshot(sessions) == state


async def test_subscriptions_from_csv_with_bad_lines(
    sessions: Sessions, settings: Settings, tmp_path: Path
) -> None:
    columns = ["user_id", "tier", "status", "email", "name", "billing_anchor_day", "timestamp"]
    rows = [
        subscription("u1", "pro", "active", 0, billing_anchor_day=15),
        subscription("u2", "pro", "paused", 0),
        subscription("u3", "pro", "active", 0, billing_anchor_day="15th"),
        {"user_id": "u4", "tier": "pro", "status": "active"},
    ]
    path = write_csv(tmp_path / "subs.csv", rows, columns=columns)
    counts, rejected = await load(sessions, settings, path, kind="subscriptions")
    assert problems(rejected) == {3: ["status"], 4: ["billing_anchor_day"], 5: ["timestamp"]}
    assert (counts.read, counts.stored) == (4, 1)


async def test_reimport_of_updates_at_the_same_instant_records_nothing_new(
    sessions: Sessions, settings: Settings, tmp_path: Path
) -> None:
    subs = [
        subscription("u1", "pro", "active", 0),
        subscription("u1", "elite", "active", 0),  # an upgrade in the same second
        subscription("u1", "elite", "cancelled", 5),
    ]
    path = write_lines(tmp_path / "subs.jsonl", subs)
    counts, _ = await load(sessions, settings, path, kind="subscriptions")
    assert counts.stored == 3
    state = await snapshot(sessions)
    assert state["customers"] == [("u1", "elite", "cancelled", T0 + timedelta(days=5))]
    for _ in range(2):
        counts, _ = await load(sessions, settings, path, kind="subscriptions", batch_size=1)
        assert (counts.stored, counts.unchanged) == (0, 3)
        assert await snapshot(sessions) == state
