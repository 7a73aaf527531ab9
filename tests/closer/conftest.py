"""Fixtures of the closer tests: a real SMTP server (aiosmtpd) on loopback, settings, helpers."""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any, cast

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.app import create_app
from nexus_crm.models import UpsellStep
from nexus_crm.settings import Settings
from tests.alerts.helpers import post_events, post_subscription
from tests.processes import free_port
from tests.support import OLD_SECRET, TEST_SECRET, event

SEQUENCES = "/agent-usage/upsell-sequences"


class Inbox:
    """An aiosmtpd handler that keeps every message; ``refuse`` temporarily fails the next N."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.recipients: list[str] = []  # the envelope's RCPT TO of every accepted message
        self.refuse = 0
        self.refused = 0
        self._lock = threading.Lock()

    async def _data(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self._lock:
            if self.refuse > 0:
                self.refuse -= 1
                self.refused += 1
                return "451 4.3.0 mailbox busy, try again later"
            content = cast(bytes, envelope.content)
            self.recipients.extend(envelope.rcpt_tos)
            self.messages.append(cast(EmailMessage, message_from_bytes(content, policy=default)))
        return "250 OK"

    def bodies(self) -> list[str]:
        """The text bodies received so far."""
        return [m.get_content() for m in self.messages]


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    """A real SMTP server on 127.0.0.1 (aiosmtpd) and its port."""
    handler: Inbox = type("Handler", (Inbox,), {"handle_DATA": Inbox._data})()  # aiosmtpd's hook
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


@pytest.fixture
def settings(db_url: str, inbox: tuple[Inbox, int]) -> Settings:
    """Settings on the database under test, mailing through the loopback SMTP server."""
    return Settings(
        DATABASE_URL=db_url,
        GENESIS_WEBHOOK_SECRET=f"{TEST_SECRET},{OLD_SECRET}",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=inbox[1],
        SMTP_STARTTLS=False,
        SMTP_TIMEOUT_SECONDS=5,
        UPSELL_WORKER_INTERVAL_SECONDS=0,
        ALERT_EVALUATION_INTERVAL_SECONDS=0,
        UPSELL_RETRY_BASE_SECONDS=60,
    )


async def customer(
    client: httpx.AsyncClient,
    user: str = "cliente_123",
    *,
    tier: str = "pro",
    email: str | None = "ana@example.com",
    status: str = "active",
    tokens: int = 150,
) -> None:
    """A customer with a subscription and one usage event (the webhooks' real path)."""
    await post_subscription(client, user_id=user, tier=tier, status=status, email=email, name="Ana")
    if tokens:
        await post_events(client, event(user_id=user, subscription_tier=tier, tokens_used=tokens))


async def start(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    user: str = "cliente_123",
    tier: str = "elite",
    reason: str = "High usage pattern",
) -> httpx.Response:
    """POST a sequence as the MCP tool does."""
    body = {"user_id": user, "recommended_tier": tier, "reason": reason}
    return await client.post(SEQUENCES, json=body, headers=headers)


def sequence_of(resp: httpx.Response) -> dict[str, Any]:
    """The sequence of a start answer."""
    seq: dict[str, Any] = resp.json()["sequence"]
    return seq


@contextlib.asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """An app on ``settings`` with its lifespan running, and an in-process client."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield app, client


async def steps(sessions: async_sessionmaker[AsyncSession], sequence_id: str) -> list[UpsellStep]:
    """The steps of a sequence, straight from the table."""
    async with sessions() as s:
        stmt = (
            select(UpsellStep)
            .where(UpsellStep.sequence_id == uuid.UUID(sequence_id))
            .order_by(UpsellStep.step_index)
        )
        return list((await s.scalars(stmt)).all())


def anchor_day(today: date) -> int:
    """A billing anchor that started the current period 12-16 days ago (any date of the year)."""
    start = today - timedelta(days=12)
    return start.day if start.day <= 28 else (today - timedelta(days=16)).day


async def heavy_user(
    client: httpx.AsyncClient, user: str, *, tokens: int = 850_000, tier: str = "pro"
) -> None:
    """A customer who used ``tokens`` over the last 8 complete days, every day (85 % of Pro)."""
    now = datetime.now(UTC)
    await post_subscription(
        client,
        user_id=user,
        tier=tier,
        status="active",
        email=f"{user}@example.com",
        name=user.title(),
        billing_anchor_day=anchor_day(now.date()),
    )
    days = 8
    await post_events(
        client,
        *(
            event(
                user_id=user,
                subscription_tier=tier,
                tokens_used=tokens // days,
                agent_id="SAGE",
                timestamp=(now - timedelta(days=k, hours=1)).isoformat(),
            )
            for k in range(1, days + 1)
        ),
    )
