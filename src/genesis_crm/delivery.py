"""One delivery round: send what is due from the outbox, act on the answer."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import httpx

from genesis_crm import policy
from genesis_crm.outbox import Item, Outbox
from genesis_crm.signing import sign_headers

log = logging.getLogger("genesis_crm")

EVENTS_PATH = "/agent-usage/events"
SUBSCRIPTIONS_PATH = "/agent-usage/subscriptions"

T = TypeVar("T")


class RunDb(Protocol):
    """Runs outbox work on the client's single database thread (see client.py)."""

    def __call__(self, fn: Callable[..., T], /, *args: Any) -> Awaitable[T]: ...


@dataclass
class DeliveryConfig:
    """Knobs of the delivery loop."""

    secret: str
    batch_size: int
    backoff_base: float
    backoff_cap: float
    rand: Callable[[], float]
    clock: Callable[[], float]


@dataclass(frozen=True)
class Answer:
    """What came back for one POST (status None: no answer)."""

    status: int | None
    body: str
    retry_after: str | None


async def post(http: httpx.AsyncClient, path: str, body: bytes, secret: str) -> Answer:
    """POST a signed body; network failures and timeouts become ``status=None``."""
    try:
        resp = await http.post(path, content=body, headers=sign_headers(secret, body))
    except httpx.HTTPError as exc:
        return Answer(None, f"{type(exc).__name__}: {exc}", None)
    return Answer(resp.status_code, resp.text, resp.headers.get("retry-after"))


def _events_body(items: list[Item]) -> bytes:
    # Payloads are stored as JSON already; splice them instead of re-encoding.
    return ('{"events":[' + ",".join(i.payload for i in items) + "]}").encode()


async def _act(
    items: list[Item], answer: Answer, cfg: DeliveryConfig, run_db: RunDb, outbox: Outbox
) -> policy.Action:
    """Apply the policy's decision for ``items`` to the outbox; return the action."""
    decision = policy.classify(answer.status, answer.body, batch_size=len(items))
    seqs = [i.seq for i in items]
    if decision.action is policy.Action.DONE:
        await run_db(outbox.delete, seqs)
    elif decision.action is policy.Action.RETRY:
        now = datetime.fromtimestamp(cfg.clock(), UTC)
        wait = policy.retry_delay(
            max(i.attempts for i in items) + 1,
            policy.retry_after_seconds(answer.retry_after, now),
            base=cfg.backoff_base,
            cap=cfg.backoff_cap,
            rand=cfg.rand,
        )
        log.warning(
            "NexusCRM delivery failed (%s); %d item(s) retry in %.1fs",
            decision.reason,
            len(items),
            wait,
        )
        await run_db(outbox.reschedule, seqs, wait, f"{decision.reason}: {answer.body[:300]}")
    elif decision.action is policy.Action.DEAD:
        dead = {items[i].seq: err for i, err in decision.bad_items.items() if i < len(items)}
        log.error(
            "NexusCRM refused %d item(s) (%s); moved to the dead-letter table of %s",
            len(dead),
            decision.reason,
            outbox.path,
        )
        await run_db(outbox.bury, dead)
    return decision.action


async def deliver_events(
    http: httpx.AsyncClient, outbox: Outbox, cfg: DeliveryConfig, run_db: RunDb, limit: int
) -> tuple[int, policy.Action | None]:
    """Send up to ``limit`` due events as one batch; return (items tried, action)."""
    items = await run_db(outbox.due, "event", limit)
    if not items:
        return 0, None
    answer = await post(http, EVENTS_PATH, _events_body(items), cfg.secret)
    return len(items), await _act(items, answer, cfg, run_db, outbox)


async def deliver_subscriptions(
    http: httpx.AsyncClient, outbox: Outbox, cfg: DeliveryConfig, run_db: RunDb
) -> int:
    """Send due subscription updates one by one (oldest first); return how many were tried."""
    items = await run_db(outbox.due, "subscription", 50)
    for n, item in enumerate(items):
        answer = await post(http, SUBSCRIPTIONS_PATH, item.payload.encode(), cfg.secret)
        if await _act([item], answer, cfg, run_db, outbox) is policy.Action.RETRY:
            return n + 1  # the CRM is struggling: leave the rest for the next round
    return len(items)


def dumps(obj: object) -> str:
    """Compact JSON for the outbox."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
