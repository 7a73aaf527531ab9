"""The demo mailbox: a loopback SMTP server that keeps what the upsell delivery sends it."""

from __future__ import annotations

import smtplib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest

from nexus_crm.closer.content import Rendered
from nexus_crm.closer.delivery import Outgoing, send_email
from nexus_crm.closer.mailbox import DemoMailbox
from nexus_crm.settings import Settings

BODY = "¡Hola Ana!\n\nYou have used 85 % of your Pro plan.\nElite: 4,000,000 tokens."


def outgoing(to: str, subject: str, body: str = BODY) -> Outgoing:
    """One rendered upsell step, as the worker hands it to the sender."""
    message = Rendered(subject=subject, body=body, to=to, figures={})
    return Outgoing(
        step_id=uuid.uuid4(),
        sequence_id=uuid.uuid4(),
        user_id="cliente_123",
        index=0,
        kind="initial",
        channel="email",
        message_id=uuid.uuid4().hex,
        message=message,
    )


@pytest.fixture
def mailbox() -> Iterator[DemoMailbox]:
    """A started demo mailbox, stopped afterwards."""
    box = DemoMailbox(limit=3)
    box.start()
    try:
        yield box
    finally:
        box.stop()


async def test_an_email_sent_by_the_upsell_delivery_is_listed(mailbox: DemoMailbox) -> None:
    settings = mailbox.smtp_settings(Settings(DASHBOARD_ENABLED=False))
    assert (settings.smtp_host, settings.smtp_port) == ("127.0.0.1", mailbox.port)
    assert not settings.smtp_starttls
    assert settings.smtp_username is None
    assert settings.smtp_password is None
    before = datetime.now(UTC)
    await send_email(outgoing("ana@example.com", "Ana, you have used 85 % of Pro"), settings)
    (got,) = mailbox.messages()
    assert got.to == "ana@example.com"
    assert got.subject == "Ana, you have used 85 % of Pro"
    assert got.sender == settings.smtp_from
    assert got.body.strip() == BODY
    assert before - timedelta(seconds=1) <= got.received_at <= datetime.now(UTC)
    assert got.received_at.tzinfo is not None
    assert mailbox.received == 1


async def test_the_mailbox_keeps_the_newest_messages_up_to_its_limit(
    mailbox: DemoMailbox,
) -> None:
    settings = mailbox.smtp_settings(Settings(DASHBOARD_ENABLED=False))
    for n in range(5):
        await send_email(outgoing(f"c{n}@example.com", f"step {n}"), settings)
    assert [m.subject for m in mailbox.messages()] == ["step 4", "step 3", "step 2"]
    assert mailbox.received == 5
    assert [m.number for m in mailbox.messages()] == [5, 4, 3]


def test_an_html_only_email_is_kept_with_its_html_as_text(mailbox: DemoMailbox) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "a@example.com", "b@example.com", "HTML"
    msg.set_content("<p>Hello <b>Ana</b></p>", subtype="html")
    with smtplib.SMTP("127.0.0.1", mailbox.port, timeout=10) as smtp:
        smtp.send_message(msg)
    (got,) = mailbox.messages()
    assert "Hello" in got.body
    assert got.subject == "HTML"


def test_a_stopped_mailbox_refuses_connections() -> None:
    box = DemoMailbox()
    box.start()
    port = box.port
    box.stop()
    box.stop()  # stopping twice is harmless (the demo and the app's shutdown both stop it)
    with pytest.raises(ConnectionRefusedError), smtplib.SMTP("127.0.0.1", port, timeout=5):
        pass
