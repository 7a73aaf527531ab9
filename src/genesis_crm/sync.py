"""``GenesisCRMSync``: the same client for code without an event loop (threads, WSGI)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, TypeVar

from genesis_crm.client import GenesisCRM

T = TypeVar("T")


class GenesisCRMSync:
    """Blocking facade over :class:`GenesisCRM`, which runs on a private event-loop thread.

    Takes the same keyword arguments as ``GenesisCRM``. Calls return once the item is
    committed to the outbox, exactly as the async client's do.
    """

    def __init__(self, **kwargs: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="genesis-crm", daemon=True
        )
        self._thread.start()
        self._client: GenesisCRM = self._call(self._make(kwargs))

    @staticmethod
    async def _make(kwargs: dict[str, Any]) -> GenesisCRM:
        return GenesisCRM(**kwargs)

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def track_agent_usage(self, **kwargs: Any) -> str:
        """Record one agent interaction durably; return its ``event_id``."""
        return self._call(self._client.track_agent_usage(**kwargs))

    def track_subscription(self, **kwargs: Any) -> None:
        """Record a customer's subscription tier and status durably."""
        self._call(self._client.track_subscription(**kwargs))

    def flush(self, timeout: float = 10.0) -> int:
        """Send what is due and wait up to ``timeout`` s; return items still pending."""
        return self._call(self._client.flush(timeout))

    def close(self, timeout: float = 5.0) -> None:
        """Deliver for up to ``timeout`` s, then stop the client and its thread."""
        if not self._loop.is_running():
            return
        self._call(self._client.aclose(timeout))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def __enter__(self) -> GenesisCRMSync:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
