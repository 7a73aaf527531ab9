"""The worker: due steps to a real SMTP server with the customer's figures, retries, templates."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
from fastapi import FastAPI

from nexus_crm.closer.worker import deliver_due
from nexus_crm.kit.time import utcnow
from nexus_crm.settings import Settings
from tests.alerts.helpers import post_events
from tests.closer.conftest import Inbox, customer, sequence_of, served, start, steps
from tests.support import event


async def test_the_first_email_carries_the_customers_figures(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    settings: Settings,
    inbox: tuple[Inbox, int],
) -> None:
    await customer(client, tokens=0)
    await post_events(
        client,
        *(event(agent_id="BLAZE", tokens_used=40_000) for _ in range(3)),
        event(agent_id="NEXUS", tokens_used=10_000),
    )
    await start(client, admin_headers)
    first = await deliver_due(app.state.sessions, settings, now=utcnow())
    assert [o.kind for o in first.sent] == ["initial"]
    (msg,) = inbox[0].messages
    assert msg["To"] == "ana@example.com"
    assert msg["From"] == "NGX <no-reply@ngx.local>"
    assert msg["Subject"] == "Ana, you have used 13 % of your Pro plan"
    body = msg.get_content()
    for figure in (
        "130,000 of 1,000,000 tokens (13 %)",
        "4 of 5,000 interactions",
        "BLAZE (3 interactions)",
        "Elite",
        "20,000 interactions",
        "4,000,000 tokens",
        "299.00 USD",
    ):
        assert figure in body, figure


async def test_steps_go_out_when_due_and_never_twice(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    settings: Settings,
    inbox: tuple[Inbox, int],
) -> None:
    sessions = app.state.sessions
    await customer(client)
    seq = sequence_of(await start(client, admin_headers))
    t0 = utcnow()
    kinds = []
    for days in (0, 2, 3, 8, 30):
        done = await deliver_due(sessions, settings, now=t0 + timedelta(days=days, minutes=1))
        kinds.append([o.kind for o in done.sent])
    assert kinds == [["initial"], [], ["follow_up"], ["last_offer"], []]
    assert len(inbox[0].messages) == 3
    done_seq = (
        await client.get(f"/agent-usage/upsell-sequences/{seq['id']}", headers=admin_headers)
    ).json()
    assert done_seq["status"] == "completed"
    assert [(s["status"], s["attempts"]) for s in done_seq["steps"]] == [("sent", 1)] * 3
    assert all(s["sent_at"] for s in done_seq["steps"])
    assert done_seq["history"][-1]["action"] == "completed"
    trail = (
        await client.get(
            "/agent-usage/audit", params={"target": f"sequence:{seq['id']}"}, headers=admin_headers
        )
    ).json()["entries"]
    assert [(e["action"], e["actor"]) for e in reversed(trail)] == [
        ("sequence.started", trail[-1]["actor"]),
        *[("sequence.step_sent", "system:upsell-worker")] * 3,
        ("sequence.completed", "system"),
    ]
    assert [e["details"]["step"] for e in trail if e["action"] == "sequence.step_sent"] == [
        "last_offer",
        "follow_up",
        "initial",
    ]


async def test_a_refused_send_is_retried_with_backoff_then_fails(
    settings: Settings, inbox: tuple[Inbox, int], admin_headers: dict[str, str]
) -> None:
    box, box.refuse = inbox[0], 2
    tuned = settings.model_copy(update={"upsell_max_attempts": 3})
    async with served(tuned) as (app, client):
        sessions = app.state.sessions
        await customer(client)
        seq = sequence_of(await start(client, admin_headers))
        t0 = utcnow()
        assert (await deliver_due(sessions, tuned, now=t0)).retried == 1
        first = (await steps(sessions, seq["id"]))[0]
        assert (first.status, first.attempts) == ("scheduled", 1)
        assert ("451" in (first.last_error or ""), first.next_attempt_at) == (
            True,
            t0 + timedelta(seconds=60),
        )
        assert (await deliver_due(sessions, tuned, now=t0 + timedelta(seconds=59))).retried == 0
        t1 = t0 + timedelta(seconds=60)
        assert (await deliver_due(sessions, tuned, now=t1)).retried == 1
        assert (await steps(sessions, seq["id"]))[0].next_attempt_at == t1 + timedelta(seconds=120)
        t2 = t1 + timedelta(seconds=120)
        assert len((await deliver_due(sessions, tuned, now=t2)).sent) == 1
        first = (await steps(sessions, seq["id"]))[0]
        assert (first.status, first.attempts, first.last_error, box.refused) == ("sent", 3, None, 2)

        box.refuse = 10  # the follow-up never gets through: failed after 3 attempts
        for hours in (0, 1, 2):
            await deliver_due(sessions, tuned, now=t0 + timedelta(days=3, hours=hours))
        follow = (await steps(sessions, seq["id"]))[1]
        assert (follow.status, follow.attempts, len(box.messages)) == ("failed", 3, 1)


async def test_a_customer_without_email_fails_the_step_at_once(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    settings: Settings,
    inbox: tuple[Inbox, int],
) -> None:
    await customer(client, "mute", email=None)
    seq = sequence_of(await start(client, admin_headers, "mute"))
    done = await deliver_due(app.state.sessions, settings, now=utcnow())
    assert (done.sent, done.failed) == ([], 1)
    first = (await steps(app.state.sessions, seq["id"]))[0]
    assert (first.status, first.attempts) == ("failed", 1)
    assert "no email address" in (first.last_error or "")
    assert inbox[0].messages == []


async def test_spanish_and_an_override_template(
    settings: Settings, inbox: tuple[Inbox, int], admin_headers: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "es").mkdir()
    (tmp_path / "es" / "follow_up.txt.j2").write_text(
        "Subject: Hola {{ name }}\n\n{{ usage_pct }} % usado; {{ recommended_name }}.\n"
    )
    tuned = settings.model_copy(update={"locale": "es", "upsell_templates_dir": str(tmp_path)})
    async with served(tuned) as (app, client):
        await customer(client)
        await start(client, admin_headers)
        t0 = utcnow()
        await deliver_due(app.state.sessions, tuned, now=t0)
        await deliver_due(app.state.sessions, tuned, now=t0 + timedelta(days=3))
    first, second = inbox[0].messages
    assert first["Subject"] == "Ana, has usado el 0 % de tu plan Pro"
    assert "interacciones" in first.get_content()
    assert second["Subject"] == "Hola Ana"
    assert second.get_content().strip() == "0 % usado; Elite."
