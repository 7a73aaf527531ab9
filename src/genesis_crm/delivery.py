"""One delivery round: send what is due from the outbox, act on the answer."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, Protocol, TypeVar

import httpx

from genesis_crm import policy
from genesis_crm.isolation import Bisection
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
    if decision.action is policy.Action.DONE:
        await run_db(outbox.delete, [i.seq for i in items])
    elif decision.action is policy.Action.RETRY:
        await _reschedule(items, answer, decision.reason, cfg, run_db, outbox)
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


async def _reschedule(
    items: list[Item],
    answer: Answer,
    reason: str,
    cfg: DeliveryConfig,
    run_db: RunDb,
    outbox: Outbox,
) -> None:
    """Keep ``items`` for a later try: Retry-After if the server gave one, else backoff."""
    now = datetime.fromtimestamp(cfg.clock(), UTC)
    wait = policy.retry_delay(
        max(i.attempts for i in items) + 1,
        policy.retry_after_seconds(answer.retry_after, now),
        base=cfg.backoff_base,
        cap=cfg.backoff_cap,
        rand=cfg.rand,
    )
    log.warning(
        "NexusCRM delivery failed (%s); %d item(s) retry in %.1fs", reason, len(items), wait
    )
    fault = policy.is_server_fault(answer.status, answer.retry_after)
    await run_db(
        outbox.reschedule, [i.seq for i in items], wait, f"{reason}: {answer.body[:300]}", fault
    )


async def deliver_events(
    http: httpx.AsyncClient, outbox: Outbox, cfg: DeliveryConfig, run_db: RunDb, limit: int
) -> tuple[int, policy.Action | None]:
    """Send up to ``limit`` due events as one batch; return (items tried, action)."""
    items = await run_db(outbox.due, "event", limit)
    if not items:
        return 0, None
    answer = await post(http, EVENTS_PATH, _events_body(items), cfg.secret)
    if len(items) > 1 and _keeps_failing(items, answer):
        bisection = Bisection(
            partial(_probe, http, cfg, run_db, outbox),
            partial(_keep, cfg, run_db, outbox),
            partial(_bury, run_db, outbox),
        )
        return len(items), await bisection.run(items, answer)
    return len(items), await _act(items, answer, cfg, run_db, outbox)


def _keeps_failing(items: list[Item], answer: Answer) -> bool:
    """A server fault for a batch whose items collected SPLIT_AFTER_SERVER_ERRORS of them."""
    strikes = max(i.server_errors for i in items) + 1
    return (
        policy.is_server_fault(answer.status, answer.retry_after)
        and strikes >= policy.SPLIT_AFTER_SERVER_ERRORS
    )


async def _probe(
    http: httpx.AsyncClient,
    cfg: DeliveryConfig,
    run_db: RunDb,
    outbox: Outbox,
    items: list[Item],
) -> tuple[Answer, policy.Action | None]:
    """Send part of a batch under bisection; a server fault is left to the caller (None)."""
    answer = await post(http, EVENTS_PATH, _events_body(items), cfg.secret)
    if policy.is_server_fault(answer.status, answer.retry_after):
        return answer, None
    return answer, await _act(items, answer, cfg, run_db, outbox)


async def _keep(
    cfg: DeliveryConfig, run_db: RunDb, outbox: Outbox, items: list[Item], answer: Answer
) -> None:
    """Keep a part a bisection could not settle, counting the server error it got."""
    await _reschedule(items, answer, f"HTTP {answer.status}", cfg, run_db, outbox)


async def _bury(run_db: RunDb, outbox: Outbox, item: Item, reason: str) -> None:
    """Dead-letter the poisoned item a bisection found."""
    log.error("NexusCRM fails on event %d; moved to the dead letters of %s", item.seq, outbox.path)
    await run_db(outbox.bury, {item.seq: reason})


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
    """Compact JSON for the outbox; never NaN/Infinity (events.py refuses them first)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
