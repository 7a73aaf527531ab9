"""Sequences end with the customer: converted on a tier upgrade, cancelled with the customer."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from nexus_crm.analytics.service import window
from nexus_crm.business.conversion import conversion_rates
from nexus_crm.closer.worker import deliver_due
from nexus_crm.db import transaction
from nexus_crm.kit.time import local_day, utcnow
from nexus_crm.settings import Settings
from tests.alerts.helpers import post_events, post_subscription
from tests.closer.conftest import SEQUENCES, Inbox, customer, sequence_of, start
from tests.support import event


async def get(client: httpx.AsyncClient, headers: dict[str, str], seq: dict[str, Any]) -> Any:
    return (await client.get(f"{SEQUENCES}/{seq['id']}", headers=headers)).json()


async def test_an_upgrade_event_converts_in_the_same_transaction(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    settings: Settings,
    inbox: tuple[Inbox, int],
) -> None:
    await customer(client, "up")
    await customer(client, "half")
    seq = sequence_of(await start(client, admin_headers, "up"))
    half = sequence_of(await start(client, admin_headers, "half", tier="prime"))
    await post_events(
        client,
        event(user_id="up", subscription_tier="prime"),
        event(user_id="half", subscription_tier="elite"),
    )
    done = await get(client, admin_headers, seq)
    assert (done["status"], done["ended_at"] is not None) == ("converted", True)
    assert [s["status"] for s in done["steps"]] == ["skipped"] * 3
    last = done["history"][-1]
    assert (last["action"], last["actor"], last["note"]) == (
        "converted",
        "system",
        "customer is now on prime",
    )
    assert (await get(client, admin_headers, half))["status"] == "active"  # elite < prime
    sent = await deliver_due(app.state.sessions, settings, now=utcnow())
    assert [o.user_id for o in sent.sent] == ["half"]  # nothing goes to a converted customer
    assert len(inbox[0].messages) == 1


async def test_a_subscription_update_converts_or_cancels(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await customer(client, "sub")
    await customer(client, "leaver")
    seq = sequence_of(await start(client, admin_headers, "sub"))
    gone = sequence_of(await start(client, admin_headers, "leaver"))
    await post_subscription(client, user_id="sub", tier="elite", status="active")
    await post_subscription(client, user_id="leaver", tier="pro", status="cancelled")
    assert (await get(client, admin_headers, seq))["status"] == "converted"
    ended = await get(client, admin_headers, gone)
    assert ended["status"] == "cancelled"
    assert ended["history"][-1]["note"] == "customer's subscription is cancelled"


async def completed(
    app: FastAPI,
    client: httpx.AsyncClient,
    headers: dict[str, str],
    settings: Settings,
    users: tuple[str, ...],
) -> None:
    """Sequences of these customers, every step sent: completed."""
    for user in users:
        await customer(client, user)
        await start(client, headers, user)
    t0 = utcnow()
    for days in (0, 3, 8):
        await deliver_due(app.state.sessions, settings, now=t0 + timedelta(days=days, minutes=1))
    listed = await client.get(SEQUENCES, params={"status": "completed"}, headers=headers)
    assert listed.json()["count"] == len(users)


async def test_a_completed_sequence_still_converts_and_rates_count_sequences(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    settings: Settings,
    inbox: tuple[Inbox, int],
) -> None:
    await completed(app, client, admin_headers, settings, ("c1", "c2", "c3", "c4"))
    assert len(inbox[0].messages) == 12
    await post_events(client, event(user_id="c1", subscription_tier="elite"))
    await post_subscription(client, user_id="c2", tier="longevity", status="active")
    done = await client.get(SEQUENCES, params={"status": "converted"}, headers=admin_headers)
    assert sorted(s["user_id"] for s in done.json()["sequences"]) == ["c1", "c2"]
    await customer(client, "c5")
    await start(client, admin_headers, "c5")  # active: pending

    now = utcnow()
    w = window(30, local_day(now, settings.tz), "UTC")
    async with transaction(app.state.sessions) as session:
        rows = await conversion_rates(session, w=w, tz=settings.tz, now=now, follow_up_days=30)
        late = await conversion_rates(
            session, w=w, tz=settings.tz, now=now + timedelta(days=31), follow_up_days=30
        )
    pro = next(r for r in rows if (r.source, r.tier) == ("upsell_sequences", "pro"))
    # c3 and c4 completed within the follow-up: pending like c5, so no rate is known yet
    assert (pro.started, pro.converted, pro.pending, pro.rate) == (5, 2, 3, 1.0)
    pro = next(r for r in late if (r.source, r.tier) == ("upsell_sequences", "pro"))
    assert (pro.started, pro.converted, pro.pending, pro.rate) == (5, 2, 1, 0.5)
    alerts = [r for r in rows if r.source == "upgrade_alerts"]
    assert [r.tier for r in alerts] == ["essential", "pro", "elite", "prime"]
