"""Business metrics computed off the server's event loop, shared by every open tab.

Training the churn model and fitting the forecasts takes seconds of CPU; done on the event
loop it would freeze every page and WebSocket of the process. Here it runs in a worker
thread with its own event loop and engine (one short transaction) but the app's read caches
(the churn snapshot the API scored is reused), and the result is kept for ``CACHE_S`` so tabs
opened together share one computation.
"""

from __future__ import annotations

import asyncio
import time
from typing import Final

from nexus_crm.business.schemas import BusinessMetrics
from nexus_crm.dashboard import service
from nexus_crm.db import create_engine, transaction
from nexus_crm.kit.memo import Memo
from nexus_crm.kit.time import utcnow
from nexus_crm.settings import Settings
from nexus_crm.wiring import open_sessions

CACHE_S: Final = 60.0


async def _compute(settings: Settings, memos: dict[str, Memo]) -> BusinessMetrics:
    engine = create_engine(settings)
    try:
        async with transaction(open_sessions(engine, settings, memos=memos)) as session:
            return await service.get_business_metrics(session, now=utcnow(), settings=settings)
    finally:
        await engine.dispose()


def compute_in_thread(settings: Settings, memos: dict[str, Memo]) -> BusinessMetrics:
    """The business metrics, computed on this (worker) thread's own event loop."""
    return asyncio.run(_compute(settings, memos))


class BusinessMetricsCache:
    """The latest business metrics of this process, recomputed when older than ``CACHE_S``."""

    def __init__(self) -> None:
        self._value: tuple[float, BusinessMetrics] | None = None
        self._task: asyncio.Task[BusinessMetrics] | None = None

    def cached(self) -> BusinessMetrics | None:
        """The metrics if computed less than ``CACHE_S`` ago."""
        if self._value is not None and time.monotonic() - self._value[0] < CACHE_S:
            return self._value[1]
        return None

    async def get(
        self, settings: Settings, memos: dict[str, Memo], *, fresh: bool = False
    ) -> BusinessMetrics:
        """The cached metrics, or a new computation (joined if one is already running).

        ``memos``: the app's read caches (``kit.memo.memos_of(app.state.sessions)``).
        """
        hit = None if fresh else self.cached()
        if hit is not None:
            return hit
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(asyncio.to_thread(compute_in_thread, settings, memos))
        value = await asyncio.shield(self._task)
        self._value = (time.monotonic(), value)
        return value


metrics_cache = BusinessMetricsCache()  # one dashboard app per process (see mount.py)
