"""The demo mailbox: a loopback SMTP server that keeps the emails the demo sends.

``nexus-crm demo`` has no real mail server to talk to, so without this every upsell email
failed with a connection error and the sequence stayed active for no visible reason. The
demo starts a :class:`DemoMailbox` (aiosmtpd, in its own thread with its own event loop, on
127.0.0.1 and a port the OS picks), points the app's SMTP settings at it (no STARTTLS, no
login) and installs it on the app, where the dashboard's Mailbox page reads it. Messages
live in memory only, newest first, at most ``MAX_MESSAGES`` of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from types import SimpleNamespace
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import FastAPI

from nexus_crm.settings import Settings

HOST = "127.0.0.1"
MAX_MESSAGES = 200  # the demo's worker sends a few emails a minute at most
MAX_MESSAGE_BYTES = 1024 * 1024  # an upsell email is a few kB; refuse anything absurd
SERVER_NAME = "nexus-crm-demo"  # aiosmtpd's default greeting name is a slow DNS lookup
STATE_KEY = "demo_mailbox"  # the attribute of ``app.state`` the dashboard looks for
PAGE_PATH = "/mailbox"  # the dashboard page that lists what the mailbox received


@dataclass(frozen=True)
class Received:
    """One email as the mailbox received it."""

    number: int
    received_at: datetime
    sender: str
    to: str
    subject: str
    body: str


def _text_of(msg: EmailMessage) -> str:
    """The readable body: the plain-text part, else the HTML source, else nothing."""
    part = msg.get_body(preferencelist=("plain", "html"))
    return str(part.get_content()) if part is not None else ""


def parse(number: int, content: bytes, envelope: Envelope, at: datetime) -> Received:
    """A received message's headers and text (the raw text when it cannot be decoded)."""
    content = content.replace(b"\r\n", b"\n")  # SMTP's line ends; the page shows text
    msg = message_from_bytes(content, policy=default_policy)
    try:
        body = _text_of(msg)
    except (LookupError, ValueError):  # an unknown charset or a broken MIME structure
        body = content.decode("utf-8", "replace")
    return Received(
        number=number,
        received_at=at,
        sender=str(msg["From"] or envelope.mail_from or ""),
        to=str(msg["To"] or ", ".join(envelope.rcpt_tos)),
        subject=str(msg["Subject"] or ""),
        body=body,
    )


class _BoundController(Controller):
    """aiosmtpd's threaded server on a socket bound beforehand: its port is known, unraced."""

    def __init__(self, handler: object, sock: socket.socket) -> None:
        super().__init__(
            handler,
            hostname=HOST,
            port=sock.getsockname()[1],
            server_hostname=SERVER_NAME,
            data_size_limit=MAX_MESSAGE_BYTES,
        )
        self._sock = sock

    def _create_server(self) -> Awaitable[asyncio.AbstractServer]:
        return self.loop.create_server(self._factory_invoker, sock=self._sock)


class DemoMailbox:
    """A loopback SMTP server that keeps the last ``limit`` messages it received."""

    def __init__(self, limit: int = MAX_MESSAGES) -> None:
        self._messages: deque[Received] = deque(maxlen=limit)
        self._received = 0
        self._lock = threading.Lock()  # the SMTP thread writes, the dashboard's loop reads
        self._controller: _BoundController | None = None
        self.port = 0

    def start(self) -> None:
        """Listen on 127.0.0.1 on a free port (see :attr:`port`), in a thread of its own."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((HOST, 0))
        self.port = int(sock.getsockname()[1])
        # aiosmtpd calls the handler's ``handle_DATA`` for each message it accepts.
        handler = SimpleNamespace(handle_DATA=self._on_data)
        self._controller = _BoundController(handler, sock)
        self._controller.start()

    def stop(self) -> None:
        """Stop listening (harmless when stopped already); the messages stay readable."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    async def _on_data(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content
        raw = content.encode() if isinstance(content, str) else (content or b"")
        with self._lock:
            number = self._received + 1
            self._messages.appendleft(parse(number, raw, envelope, datetime.now(UTC)))
            self._received = number  # counted once kept: a message that fails to parse is not
        return "250 OK: kept in the NexusCRM demo mailbox"

    @property
    def received(self) -> int:
        """How many messages arrived since the start (also those no longer kept)."""
        return self._received

    def messages(self) -> list[Received]:
        """The kept messages, newest first."""
        with self._lock:
            return list(self._messages)

    def smtp_settings(self, settings: Settings) -> Settings:
        """``settings`` with SMTP pointed at this mailbox: plain SMTP, no STARTTLS, no login."""
        return settings.model_copy(
            update={
                "smtp_host": HOST,
                "smtp_port": self.port,
                "smtp_starttls": False,
                "smtp_username": None,
                "smtp_password": None,
            }
        )


def install_mailbox(app: FastAPI, mailbox: DemoMailbox) -> None:
    """Show ``mailbox`` in the app's dashboard; the app's shutdown stops it."""
    setattr(app.state, STATE_KEY, mailbox)
    inner: Callable[[FastAPI], Any] = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
        try:
            async with inner(app) as state:
                yield state
        finally:
            mailbox.stop()

    app.router.lifespan_context = lifespan


def installed_mailbox(app: FastAPI) -> DemoMailbox | None:
    """The demo mailbox of ``app``, or None outside the demo."""
    mailbox = getattr(app.state, STATE_KEY, None)
    return mailbox if isinstance(mailbox, DemoMailbox) else None
