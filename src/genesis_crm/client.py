"""``GenesisCRM``: the asyncio client GENESIS calls on every agent interaction."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from types import TracebackType
from typing import Any, TypeVar

import httpx

from genesis_crm import delivery
from genesis_crm.errors import ClientClosedError, ConfigurationError, OutboxFullError
from genesis_crm.events import build_event, build_subscription
from genesis_crm.outbox import Outbox
from genesis_crm.policy import Action

T = TypeVar("T")
log = logging.getLogger("genesis_crm")


def _check_config(base_url: str, secret: str, *, enabled: bool) -> None:
    """Refuse a URL or secret that could never work (a disabled client sends nothing)."""
    if not enabled:
        return
    if not base_url.startswith(("http://", "https://")):
        raise ConfigurationError(
            f"base_url must be an http(s) URL, got {base_url!r} (CRM_BASE_URL)"
        )
    if not secret.startswith("whsec_"):
        raise ConfigurationError("secret must be a whsec_… secret (CRM_WEBHOOK_SECRET)")


def _check_batching(batch_size: int, flush_interval: float) -> None:
    """Refuse a batch size or flush interval with which nothing would ever be sent."""
    if batch_size < 1 or flush_interval <= 0:
        raise ConfigurationError("batch_size must be ≥ 1 and flush_interval > 0")


class GenesisCRM:
    """Report agent usage to NexusCRM without ever blocking on, or losing to, the network.

    Every ``track_*`` call validates its input and commits it to a local SQLite outbox before
    returning; a background task sends batches, signed (Standard Webhooks), and deletes them
    only after NexusCRM answered 2xx. Use ``async with GenesisCRM(...)`` or call ``aclose()``.
    """

    def __init__(
        self,
        *,
        base_url: str,
        secret: str,
        outbox_path: str | os.PathLike[str] = "genesis_crm_outbox.db",
        enabled: bool = True,
        batch_size: int = 500,
        flush_interval: float = 1.0,
        max_outbox_events: int = 1_000_000,
        timeout: float = 10.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 60.0,
        durable: bool = True,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        _check_config(base_url, secret, enabled=enabled)
        _check_batching(batch_size, flush_interval)
        self.enabled = enabled
        self._base_url, self._timeout, self._transport = base_url.rstrip("/"), timeout, transport
        self._outbox_args = (outbox_path, max_outbox_events, durable, clock)
        self._cfg = delivery.DeliveryConfig(
            secret, batch_size, backoff_base, backoff_cap, rand, clock
        )
        self._flush_interval, self._clock, self._sleep = flush_interval, clock, sleep
        self._limit = batch_size  # shrinks after a 413, grows back after successes
        self._db: ThreadPoolExecutor | None = None
        self._outbox: Outbox | None = None
        self._http: httpx.AsyncClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._open_lock = asyncio.Lock()
        self._writers: set[asyncio.Task[None]] = set()
        self._to_write: list[tuple[str, str, asyncio.Future[int | OutboxFullError]]] = []
        self._closed = False
        self._healthy = True  # False after a failed delivery, until the next success

    # -- public API ---------------------------------------------------------------------

    async def track_agent_usage(
        self,
        *,
        user_id: str,
        agent_id: str,
        session_id: str,
        tokens_used: int,
        response_time_ms: int,
        subscription_tier: str,
        timestamp: datetime | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> str:
        """Record one agent interaction durably; return its ``event_id``."""
        event = build_event(
            user_id=user_id,
            agent_id=agent_id,
            session_id=session_id,
            tokens_used=tokens_used,
            response_time_ms=response_time_ms,
            subscription_tier=subscription_tier,
            timestamp=timestamp,
            metadata=metadata,
            now=self._now(),
        )
        await self._enqueue("event", event)
        return str(event["event_id"])

    async def track_subscription(
        self,
        *,
        user_id: str,
        tier: str,
        status: str = "active",
        email: str | None = None,
        name: str | None = None,
        timestamp: datetime | None = None,
    ) -> None:
        """Record a customer's subscription tier and status (active|cancelled) durably."""
        sub = build_subscription(
            user_id=user_id,
            tier=tier,
            status=status,
            email=email,
            name=name,
            timestamp=timestamp,
            now=self._now(),
        )
        await self._enqueue("subscription", sub)

    async def start(self) -> None:
        """Open the outbox and start delivering (also what is left from a previous run)."""
        if self._closed:
            raise ClientClosedError("this GenesisCRM client is closed")
        if self.enabled:
            await self._open()
            self._ensure_flusher()

    async def flush(self, timeout: float = 10.0) -> int:
        """Send everything due now and wait up to ``timeout`` s; return items still pending."""
        if not self.enabled or self._closed:
            return 0
        await self.start()
        assert self._outbox is not None
        deadline = time.monotonic() + timeout
        while self._outbox.pending and time.monotonic() < deadline:
            self._wake.set()
            await asyncio.sleep(0.02)
        return self._outbox.pending

    async def aclose(self, timeout: float = 5.0) -> None:
        """Try to deliver for up to ``timeout`` s, then stop; what is left stays in the outbox."""
        if self._closed:
            return
        pending = await self.flush(timeout) if self._outbox else 0
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._http is not None:
            await self._http.aclose()
        if self._outbox is not None:
            await self._run_db(self._outbox.close)
        if self._db is not None:
            self._db.shutdown(wait=True)
        if pending:
            log.warning("genesis_crm closed with %d item(s) kept in the outbox", pending)

    async def __aenter__(self) -> GenesisCRM:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def abandon(self) -> None:
        """Release the outbox without a running event loop (undelivered items stay stored)."""
        self._closed = True
        if self._outbox is not None:
            self._outbox.close()
        if self._db is not None:
            self._db.shutdown(wait=False)

    # -- internals ----------------------------------------------------------------------

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    async def _run_db(self, fn: Callable[..., T], /, *args: Any) -> T:
        """Run outbox work on the one database thread (sqlite3 calls block)."""
        assert self._db is not None
        return await asyncio.get_running_loop().run_in_executor(self._db, partial(fn, *args))

    async def _open(self) -> Outbox:
        async with self._open_lock:  # concurrent first calls must open the file once
            if self._outbox is None:
                self._db = self._db or ThreadPoolExecutor(1, thread_name_prefix="genesis-crm-db")
                path, cap, durable, clock = self._outbox_args
                self._outbox = await self._run_db(
                    partial(Outbox, path, max_items=cap, durable=durable, clock=clock)
                )
        return self._outbox

    async def _enqueue(self, kind: str, item: dict[str, Any]) -> None:
        if self._closed:
            raise ClientClosedError("this GenesisCRM client is closed")
        if not self.enabled:
            return  # CRM_INTEGRATION_ENABLED=false: validated, not stored
        outbox = await self._open()
        done: asyncio.Future[int | OutboxFullError] = asyncio.get_running_loop().create_future()
        self._to_write.append((kind, delivery.dumps(item), done))
        if len(self._to_write) == 1:
            task = asyncio.get_running_loop().create_task(self._write(outbox))
            self._writers.add(task)  # hold a reference until it is done (asyncio docs)
            task.add_done_callback(self._writers.discard)
        result = await done
        if isinstance(result, OutboxFullError):
            raise result
        self._ensure_flusher()
        if self._healthy and outbox.pending >= self._limit:
            self._wake.set()  # a full batch: send now (not while the CRM is failing)

    async def _write(self, outbox: Outbox) -> None:
        """Group commit: every item queued while the last commit ran shares the next one."""
        batch, self._to_write = self._to_write, []
        try:
            results = await self._run_db(outbox.add_many, [(k, p) for k, p, _ in batch])
        except BaseException as exc:  # the write failed: every waiting caller hears it
            for *_, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
            raise
        for (*_, fut), result in zip(batch, results, strict=True):
            if not fut.done():
                fut.set_result(result)

    def _ensure_flusher(self) -> None:
        if self._task is None or self._task.done():
            self._http = self._http or httpx.AsyncClient(
                base_url=self._base_url, timeout=self._timeout, transport=self._transport
            )
            self._task = asyncio.get_running_loop().create_task(self._flush_forever())

    async def _flush_forever(self) -> None:
        """Deliver until closed; a failed round never ends the loop."""
        while not self._closed:
            try:
                progressed = await self._round()
            except Exception:  # keep delivering; the items are safe in the outbox
                log.exception("genesis_crm delivery round failed")
                progressed = False
            if not progressed:
                await self._idle()

    async def _round(self) -> bool:
        """One delivery round; True when something was delivered or settled."""
        assert self._outbox is not None
        assert self._http is not None
        subs = await delivery.deliver_subscriptions(
            self._http, self._outbox, self._cfg, self._run_db
        )
        n, action = await delivery.deliver_events(
            self._http, self._outbox, self._cfg, self._run_db, self._limit
        )
        if action is Action.SPLIT:
            self._limit = max(1, n // 2)
        elif action is Action.DONE:
            self._limit = min(self._cfg.batch_size, self._limit * 2)
        if action is not None:
            self._healthy = action is not Action.RETRY
        full = self._outbox.pending >= self._limit and action in (Action.DONE, Action.DEAD)
        return bool(subs and action is not Action.RETRY) or full or action is Action.SPLIT

    async def _idle(self) -> None:
        """Wait for the flush interval, the next due retry, or a wake-up."""
        assert self._outbox is not None
        due_in = await self._run_db(self._outbox.next_due_in)
        # None (nothing due) or 0 (a partial batch due now): let it fill for one interval.
        sleeper = asyncio.ensure_future(self._sleep(due_in or self._flush_interval))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:  # also when aclose() cancels us: no task left pending at exit
            sleeper.cancel()
            waker.cancel()
        self._wake.clear()
