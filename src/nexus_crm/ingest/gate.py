"""Load shedding for the webhooks: a bounded number of requests in the process at once.

One process validates webhooks on one core. Past its saturation, every request admitted
only makes every other one wait longer (the answers arrive late, GENESIS times out and
retries, and the load grows). The gate admits at most ``limit`` webhook requests at a time
and answers the next one at once, before its body is read, with 503 ``overloaded`` and
``Retry-After``: the sender retries later, and what was admitted is answered in bounded
time. The writer's own bound (queued events, ingest/writer.py) still guards large batches.
"""

from __future__ import annotations

from collections.abc import Collection

from starlette.types import ASGIApp, Receive, Scope, Send

from nexus_crm.errors import Overloaded
from nexus_crm.kit.http import nexus_response
from nexus_crm.ops import Metrics

RETRY_AFTER_S = 1


class IngestGate:
    """Pure ASGI middleware: at most ``limit`` requests to ``paths`` in progress at once."""

    def __init__(
        self, app: ASGIApp, *, paths: Collection[str], limit: int, metrics: Metrics
    ) -> None:
        self.app, self.paths, self.limit = app, frozenset(paths), limit
        self._refusals = metrics.events_rejected.labels("overloaded")
        self.in_progress = 0
        metrics.webhooks_in_progress.set_function(lambda: self.in_progress)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths or not self.limit:
            await self.app(scope, receive, send)
            return
        if self.in_progress >= self.limit:
            await self._refuse(scope, receive, send)
            return
        self.in_progress += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_progress -= 1

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._refusals.inc()
        exc = Overloaded(
            f"{self.limit} webhook requests are in progress; retry", retry_after=RETRY_AFTER_S
        )
        await nexus_response(exc)(scope, receive, send)
