"""Delivery channels: email over SMTP (aiosmtplib) or a signed webhook (Standard Webhooks).

Each message carries its step's ``message_id``, fixed when the step was created: the
``webhook-id`` of a webhook (receivers dedupe on it, as the spec recommends) and the
``Message-ID`` of an email, so even a retry after an ambiguous failure is recognisable.

No header carries a control character or a line separator (issue 15): customer data such as
a name may predate the webhook's validation, and the email library would raise on it (or a
raw line break would start a new header). Such a message is ``Undeliverable``: its step
fails for good, with the reason, and the other steps of the round go out.
"""

from __future__ import annotations

import json
import time
import unicodedata
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.errors import MessageDefect, MessageError
from email.headerregistry import Address
from email.message import EmailMessage

import aiosmtplib
import httpx

from nexus_crm.closer.content import Rendered, as_payload
from nexus_crm.security import HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, sign
from nexus_crm.settings import Settings, decode_webhook_secret

WEBHOOK_TIMEOUT_S = 10.0
# Never in a header: controls (Cc: CR, LF, VT, FF, NEL, U+001C-U+001E, NUL, TAB, DEL…) and
# line and paragraph separators (Zl U+2028, Zp U+2029). The email library splits header
# values with str.splitlines(), which breaks on most of them.
UNSAFE_IN_HEADER = frozenset({"Cc", "Zl", "Zp"})


class DeliveryError(Exception):
    """A send that failed; the step is retried with backoff."""


class Undeliverable(DeliveryError):
    """A send that cannot succeed as things are (e.g. no email address): not retried."""


def unsafe_character(value: str) -> str | None:
    """The first control character or line separator of ``value`` ("U+2028 LINE SEPARATOR")."""
    for char in value:
        if unicodedata.category(char) in UNSAFE_IN_HEADER:
            return f"U+{ord(char):04X} {unicodedata.name(char, '(control character)')}"
    return None


@dataclass(frozen=True)
class Outgoing:
    """One claimed step, rendered and ready to send."""

    step_id: uuid.UUID
    sequence_id: uuid.UUID
    user_id: str
    index: int
    kind: str
    channel: str
    message_id: str
    message: Rendered | None  # None: it could not be rendered, ``problem`` says why
    problem: str | None = None


def rendered(out: Outgoing) -> Rendered:
    """The step's message; ``Undeliverable`` if it could not be rendered."""
    if out.message is None:
        raise Undeliverable(out.problem or "the message was not rendered")
    return out.message


Sender = Callable[[Outgoing, Settings], Awaitable[None]]


def _check_headers(message: Rendered) -> None:
    """Refuse a message whose header values (or the name they quote) have a line break."""
    values = (
        ("the customer's name", message.figures.get("name")),
        ("the customer's email address", message.to),
        ("the subject", message.subject),
    )
    for what, value in values:
        char = unsafe_character(str(value or ""))
        if char is not None:  # the reason names the character, never the customer's data
            raise Undeliverable(
                f"cannot build the email: {what} contains {char}, which an email header "
                "must not carry (header injection)"
            )


def _check_recipient(msg: EmailMessage) -> None:
    """Exactly one address with a domain: a list would mail people other than the customer."""
    header = msg["To"]
    addresses: tuple[Address, ...] = getattr(header, "addresses", ())
    defects: tuple[MessageDefect, ...] = getattr(header, "defects", ())
    if len(addresses) != 1 or not addresses[0].domain or defects:
        raise Undeliverable(
            "cannot build the email: the customer's email address is not exactly one valid address"
        )


def _compose(out: Outgoing, message: Rendered, to: str, settings: Settings) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.smtp_from
    msg["To"] = to
    msg["Subject"] = message.subject
    msg["Message-ID"] = f"<{out.message_id}@nexus-crm>"
    msg["X-NexusCRM-Sequence"] = str(out.sequence_id)
    msg["X-NexusCRM-Step"] = f"{out.index}:{out.kind}"
    msg.set_content(message.body)
    return msg


def email_message(out: Outgoing, settings: Settings) -> EmailMessage:
    """The email of a step (plain text, UTF-8); ``Undeliverable`` if it cannot be built."""
    message = rendered(out)
    if not message.to:
        raise Undeliverable(f"customer {out.user_id!r} has no email address")
    _check_headers(message)
    try:
        msg = _compose(out, message, message.to, settings)
    except (ValueError, TypeError, MessageError) as exc:  # what the checks did not foresee
        raise Undeliverable(f"cannot build the email: {type(exc).__name__}: {exc}") from exc
    _check_recipient(msg)
    return msg


async def send_email(out: Outgoing, settings: Settings) -> None:
    """Send a step by SMTP (SMTP_HOST, SMTP_PORT, SMTP_STARTTLS, credentials if set)."""
    msg = email_message(out, settings)
    try:
        await aiosmtplib.send(
            msg,
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password,
            start_tls=settings.smtp_starttls,
            timeout=settings.smtp_timeout_seconds,
        )
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"SMTP: {type(exc).__name__}: {exc}") from exc


def webhook_request(out: Outgoing, settings: Settings, now: int) -> tuple[bytes, dict[str, str]]:
    """The signed body and headers of a step's webhook."""
    body = json.dumps(
        {
            "type": "upsell.step",
            "sequence_id": str(out.sequence_id),
            "user_id": out.user_id,
            "step": {"index": out.index, "kind": out.kind},
            "message": as_payload(rendered(out)),
        }
    ).encode()
    key = decode_webhook_secret(settings.upsell_webhook_secret or "")
    headers = {
        HEADER_ID: out.message_id,
        HEADER_TIMESTAMP: str(now),
        HEADER_SIGNATURE: sign(key, out.message_id, now, body),
        "content-type": "application/json",
    }
    return body, headers


async def send_webhook(out: Outgoing, settings: Settings) -> None:
    """POST a step, signed, to UPSELL_WEBHOOK_URL (the Closer/GENESIS endpoint)."""
    if not (settings.upsell_webhook_url and settings.upsell_webhook_secret):
        raise Undeliverable("UPSELL_WEBHOOK_URL and UPSELL_WEBHOOK_SECRET are not both set")
    body, headers = webhook_request(out, settings, int(time.time()))
    try:
        async with httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT_S) as client:
            resp = await client.post(settings.upsell_webhook_url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"webhook: {type(exc).__name__}: {exc}") from exc
    if not resp.is_success:
        raise DeliveryError(f"webhook: HTTP {resp.status_code}")


async def send(out: Outgoing, settings: Settings) -> None:
    """Deliver by the step's channel."""
    sender = send_webhook if out.channel == "webhook" else send_email
    await sender(out, settings)
