"""Group commit: one writer per process stores the events of concurrent webhooks together.

Each request is validated on its own (a bad event fails only its own request), then queued.
The writer takes everything queued (up to ``max_group_events``), stores it in one
transaction and answers each request with its own counts only after that commit: durable
as before, but one transaction's fixed cost (customers, tiers, alerts, the commit's fsync)
is shared by every request in the group. If a group fails for a reason other than the
database being unavailable, each of its requests is retried alone, so one request's
problem never fails another's. A full queue answers 503 + ``Retry-After`` at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.db import database_unavailable, run_transaction
from nexus_crm.errors import Overloaded
from nexus_crm.ingest.service import IngestOutcome, ingest_requests
from nexus_crm.settings import Settings

log = logging.getLogger(__name__)
Rows = Sequence[Mapping[str, Any]]


@dataclass
class _Request:
    rows: Rows
    received_at: datetime
    answer: asyncio.Future[IngestOutcome] = field(repr=False)


class EventWriter:
    """Stores queued webhook events in shared transactions (see the module docstring)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        *,
        max_group_events: int = 10_000,
        max_queued_events: int = 50_000,
    ) -> None:
        self._sessions, self._settings = sessions, settings
        self.max_group_events, self.max_queued_events = max_group_events, max_queued_events
        self._queue: deque[_Request | None] = deque()  # None: stop once what is before is stored
        self._queued_events = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.groups = 0  # transactions committed
        self.requests = 0  # requests answered from them

    @property
    def queued_events(self) -> int:
        """Events waiting for the writer (not counting the group being stored)."""
        return self._queued_events

    def start(self) -> None:
        """Start the writer task on the running loop."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="event-writer")

    async def stop(self) -> None:
        """Store what is queued, then stop."""
        task, self._task = self._task, None
        if task is None:
            return
        self._queue.append(None)
        self._wake.set()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def submit(self, rows: Rows, received_at: datetime) -> IngestOutcome:
        """Queue one request's rows; return its outcome once the group holding it committed."""
        if self._task is None:
            raise RuntimeError("the event writer is not running")
        if self._queued_events and self._queued_events + len(rows) > self.max_queued_events:
            raise Overloaded(
                f"{self._queued_events:,} events are waiting to be stored; retry", retry_after=1
            )
        request = _Request(rows, received_at, asyncio.get_running_loop().create_future())
        self._queue.append(request)
        self._queued_events += len(rows)
        self._wake.set()
        return await request.answer

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                group = self._take()
                if not group:
                    return  # stopped
                await self._store(group)

    def _take(self) -> list[_Request]:
        """The next group: queued requests up to ``max_group_events`` (at least one)."""
        group: list[_Request] = []
        size = 0
        while self._queue:
            head = self._queue[0]
            if head is None:  # stop: store the group so far, then stop
                if not group:
                    self._queue.popleft()
                break
            if group and size + len(head.rows) > self.max_group_events:
                break
            group.append(head)
            self._queue.popleft()
            size += len(head.rows)
        self._queued_events -= size
        return group

    async def _store(self, group: list[_Request]) -> None:
        """Store ``group`` in one transaction, or each request alone if that fails."""
        try:
            outcomes = await self._commit(group)
        except Exception as exc:
            if len(group) == 1 or database_unavailable(exc):
                for r in group:
                    _settle(r, exc=exc)
                return
            log.warning(
                "a group of %d webhook requests failed (%s); storing each alone",
                len(group),
                type(exc).__name__,
            )
            for r in group:
                await self._store([r])
            return
        for r, outcome in zip(group, outcomes, strict=True):
            _settle(r, outcome=outcome)

    async def _commit(self, group: list[_Request]) -> list[IngestOutcome]:
        work = partial(
            ingest_requests,
            requests=[r.rows for r in group],
            received_at=max(r.received_at for r in group),
            settings=self._settings,
        )
        # The unit of work announces the stored usage (the live stream) after the commit.
        _, outcomes = await run_transaction(self._sessions, work)
        self.groups, self.requests = self.groups + 1, self.requests + len(group)
        return outcomes


def _settle(
    request: _Request, *, outcome: IngestOutcome | None = None, exc: BaseException | None = None
) -> None:
    if request.answer.done():  # the client went away and its handler was cancelled
        return
    if exc is not None:
        request.answer.set_exception(exc)
    elif outcome is not None:
        request.answer.set_result(outcome)
