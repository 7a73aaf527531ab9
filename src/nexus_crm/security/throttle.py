"""Failed-login throttling: at most N failures per key (an email, a client IP) in a window.

In process: each server process counts its own failures, and a restart forgets them.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable

MAX_TRACKED_KEYS = 100_000  # beyond this the stalest keys are forgotten (bounded memory)


class LoginThrottle:
    """Counts failed logins per key in a sliding window and says how long a key must wait."""

    def __init__(
        self,
        *,
        limit: int,
        window_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit, self.window, self._clock = limit, window_seconds, clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            self._failures.pop(key, None)
        return times

    def retry_after(self, keys: Iterable[str]) -> int:
        """Seconds until every key may try again (0: go ahead)."""
        now, wait = self._clock(), 0.0
        for key in keys:
            times = self._recent(key, now)
            if len(times) >= self.limit:
                wait = max(wait, times[-self.limit] + self.window - now)
        return math.ceil(wait)

    def failed(self, keys: Iterable[str]) -> None:
        """Record one failed attempt against each key."""
        now = self._clock()
        for key in keys:
            times = self._recent(key, now)
            times.append(now)
            self._failures.pop(key, None)
            self._failures[key] = times  # most recently failed last
        while len(self._failures) > MAX_TRACKED_KEYS:
            self._failures.pop(next(iter(self._failures)))

    def succeeded(self, key: str) -> None:
        """Forget a key's failures (a good password for that email)."""
        self._failures.pop(key, None)
