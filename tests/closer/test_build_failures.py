"""A message that cannot be built fails alone and for good; the round's other steps go out.

Issue 15, item 5: a customer name with U+2028 made the email library raise while building the
Subject, which stopped the whole worker round. Customers are written straight to the table
here, as rows stored before the webhook refused such names (or by any other path) would be.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.closer.content import Rendered
from nexus_crm.closer.delivery import Outgoing, Undeliverable, email_message, send
from nexus_crm.closer.worker import deliver_due
from nexus_crm.db import transaction
from nexus_crm.kit.time import utcnow
from nexus_crm.models import Customer
from nexus_crm.settings import Settings
from tests.closer.conftest import Inbox, customer, sequence_of, served, start, steps

MALLORY = "Mallory\u2028Bcc: victim@evil.com"
NORMAL = ("ana", "bruno", "carla")
# Everything that ends a line for str.splitlines, RFC 5322 or Unicode, and other controls.
BREAKERS = (
    "\n",
    "\r",
    "\x85",
    "\u2028",
    "\u2029",
    "\x0b",
    "\x0c",
    "\x1c",
    "\x1d",
    "\x1e",
    "\x00",
    "\t",
    "\x7f",
    "\x9f",
)


async def stored_customer(
    sessions: async_sessionmaker[AsyncSession], user: str, name: str, email: str
) -> None:
    """A Pro customer written straight to ``customers`` (no webhook validation on the way)."""
    async with transaction(sessions) as session:
        session.add(
            Customer(
                user_id=user, tier="pro", status="active", email=email, name=name, state_at=utcnow()
            )
        )


async def started(client: httpx.AsyncClient, headers: dict[str, str], *users: str) -> list[str]:
    """Start a sequence for each user, in order (so the first one's step is due first)."""
    ids = []
    for user in users:
        resp = await start(client, headers, user)
        assert resp.status_code == 201, resp.text
        ids.append(sequence_of(resp)["id"])
    return ids


async def audit_actions(
    client: httpx.AsyncClient, headers: dict[str, str], sequence_id: str
) -> list[str]:
    """The audit actions on a sequence, oldest first."""
    params = {"target": f"sequence:{sequence_id}"}
    resp = await client.get("/agent-usage/audit", params=params, headers=headers)
    return [e["action"] for e in reversed(resp.json()["entries"])]


async def test_a_line_separator_in_a_stored_name_fails_only_its_own_step(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    settings: Settings,
    inbox: tuple[Inbox, int],
) -> None:
    sessions = app.state.sessions
    await stored_customer(sessions, "mallory", MALLORY, "mallory@example.com")
    for user in NORMAL:
        await stored_customer(sessions, user, user.title(), f"{user}@example.com")
    bad, *good = await started(client, admin_headers, "mallory", *NORMAL)

    done = await deliver_due(sessions, settings, now=utcnow() + timedelta(minutes=1))

    assert (sorted(o.user_id for o in done.sent), done.failed) == (list(NORMAL), 1)
    box = inbox[0]
    assert sorted(m["To"] for m in box.messages) == [f"{u}@example.com" for u in NORMAL]
    assert sorted(box.recipients) == [f"{u}@example.com" for u in NORMAL]
    assert all(m["Bcc"] is None for m in box.messages)
    assert not any("victim" in m.as_string() or "Mallory" in m.as_string() for m in box.messages)
    failed = (await steps(sessions, bad))[0]
    assert (failed.status, failed.attempts) == ("failed", 1)
    reason = failed.last_error or ""
    assert all(w in reason for w in ("name", "header", "U+2028")), reason
    assert "victim" not in reason  # the reason names the character, not the customer's data
    assert [(await steps(sessions, s))[0].status for s in good] == ["sent"] * 3
    assert (await audit_actions(client, admin_headers, bad))[-1] == "sequence.step_failed"

    later = await deliver_due(sessions, settings, now=utcnow() + timedelta(hours=1))
    assert (later.sent, later.retried, later.failed, len(box.messages)) == ([], 0, 0, 3)


async def test_a_template_that_raises_fails_only_its_own_step(
    settings: Settings, inbox: tuple[Inbox, int], admin_headers: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "initial.txt.j2").write_text(
        "Subject: Hi {{ name }}\n\n{% if user_id == 'boom' %}{{ 1 // 0 }}{% endif %}Hello.\n"
    )
    tuned = settings.model_copy(update={"upsell_templates_dir": str(tmp_path)})
    async with served(tuned) as (app, client):
        for user in ("boom", *NORMAL):
            await customer(client, user, email=f"{user}@example.com", tokens=0)
        bad, *good = await started(client, admin_headers, "boom", *NORMAL)
        done = await deliver_due(app.state.sessions, tuned, now=utcnow() + timedelta(minutes=1))
        failed = (await steps(app.state.sessions, bad))[0]
        sent = [(await steps(app.state.sessions, s))[0].status for s in good]
        actions = await audit_actions(client, admin_headers, bad)
    assert (sorted(o.user_id for o in done.sent), done.failed) == (list(NORMAL), 1)
    assert (len(inbox[0].messages), sent) == (3, ["sent"] * 3)
    assert (failed.status, failed.attempts) == ("failed", 1)
    assert "cannot render the message" in (failed.last_error or "")
    assert "ZeroDivisionError" in (failed.last_error or "")
    assert actions[-1] == "sequence.step_failed"


async def test_an_unexpected_error_of_one_send_fails_only_that_step(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    settings: Settings,
    inbox: tuple[Inbox, int],
) -> None:
    for user in ("boom", *NORMAL):
        await customer(client, user, email=f"{user}@example.com", tokens=0)
    bad, *_ = await started(client, admin_headers, "boom", *NORMAL)

    async def faulty(out: Outgoing, settings: Settings) -> None:
        if out.user_id == "boom":  # a fault injected at the Sender seam: a bug, not an outage
            raise RuntimeError("unexpected")
        await send(out, settings)

    done = await deliver_due(
        app.state.sessions, settings, now=utcnow() + timedelta(minutes=1), sender=faulty
    )
    assert (len(done.sent), done.failed, done.retried, len(inbox[0].messages)) == (3, 1, 0, 3)
    failed = (await steps(app.state.sessions, bad))[0]
    assert (failed.status, "RuntimeError" in (failed.last_error or "")) == ("failed", True)


def outgoing(*, name: str = "Ana", to: str = "ana@example.com", subject: str = "Hi") -> Outgoing:
    """An email step rendered for a customer called ``name``."""
    message = Rendered(subject=subject, body="Hello.\n", to=to, figures={"name": name})
    return Outgoing(
        step_id=uuid.uuid4(),
        sequence_id=uuid.uuid4(),
        user_id="u",
        index=0,
        kind="initial",
        channel="email",
        message_id="m",
        message=message,
    )


@pytest.mark.parametrize("char", BREAKERS, ids=lambda c: f"U+{ord(c):04X}")
@pytest.mark.parametrize(
    ("field", "words"),
    [("name", "name"), ("to", "email address"), ("subject", "subject")],
)
def test_a_line_separator_or_control_character_never_reaches_a_header(
    char: str, field: str, words: str
) -> None:
    bad = {"name": "Ana", "to": "ana@example.com", "subject": "Hi"}
    bad[field] = {"to": f"ana@example.com{char}Bcc: victim@evil.com"}.get(
        field, f"Ana{char}Bcc: victim@evil.com"
    )
    with pytest.raises(Undeliverable) as caught:
        email_message(outgoing(**bad), Settings())
    reason = str(caught.value)
    assert all(w in reason for w in (words, "header", f"U+{ord(char):04X}")), reason


@pytest.mark.parametrize(
    "to", ["ana@example.com, victim@evil.com", "ana@example.com victim@evil.com", "not-an-email"]
)
def test_the_recipient_must_be_exactly_one_address(to: str) -> None:
    with pytest.raises(Undeliverable, match="email address"):
        email_message(outgoing(to=to), Settings())


def test_a_clean_message_still_builds() -> None:
    msg = email_message(outgoing(name="Ana María", to="Ana <ana@example.com>"), Settings())
    assert (msg["To"], msg["Subject"], msg["Bcc"]) == ("Ana <ana@example.com>", "Hi", None)
