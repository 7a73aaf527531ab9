"""Signed webhook posts with retries, and a small pipeline of concurrent requests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from genesis_crm.signing import sign_headers

RETRIABLE = frozenset({408, 425, 429, 500, 502, 503, 504})


class SendError(RuntimeError):
    """A request NexusCRM refused, or that kept failing after every retry."""


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("retry-after", "")
    return float(value) if value.isdigit() else None


@dataclass
class SignedPoster:
    """POSTs JSON signed with a Standard Webhooks secret; retries what is transient."""

    client: httpx.AsyncClient
    secret: str
    attempts: int = 6
    backoff_s: float = 0.5

    async def post(self, path: str, payload: object) -> Any:
        """Send ``payload``; return the JSON answer, or raise :class:`SendError`."""
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        for attempt in range(1, self.attempts + 1):
            try:
                resp = await self.client.post(
                    path, content=body, headers=sign_headers(self.secret, body)
                )
            except httpx.TransportError as exc:
                problem, delay = f"{type(exc).__name__}: {exc}", None
            else:
                if resp.is_success:
                    return resp.json()
                problem, delay = f"HTTP {resp.status_code}: {resp.text[:500]}", _retry_after(resp)
                if resp.status_code not in RETRIABLE:
                    raise SendError(f"POST {path} refused: {problem}")
            if attempt == self.attempts:
                raise SendError(f"POST {path} failed {self.attempts} times; last: {problem}")
            await asyncio.sleep(delay if delay is not None else self.backoff_s * 2 ** (attempt - 1))
        raise AssertionError("unreachable")


class Pipeline:
    """Runs up to ``limit`` jobs at once; the first failure is raised by the next call."""

    def __init__(self, limit: int) -> None:
        self._slots = asyncio.Semaphore(limit)
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, job: Callable[[], Awaitable[None]]) -> None:
        """Start ``job`` as soon as a slot is free."""
        await self._slots.acquire()
        try:
            self._raise_failures()
        except BaseException:
            self._slots.release()
            raise
        task = asyncio.create_task(self._run(job))
        self._tasks.add(task)

    async def _run(self, job: Callable[[], Awaitable[None]]) -> None:
        try:
            await job()
        finally:
            self._slots.release()

    def _raise_failures(self) -> None:
        for task in [t for t in self._tasks if t.done()]:
            self._tasks.discard(task)
            task.result()

    async def drain(self) -> None:
        """Wait for every started job; raise the first failure."""
        tasks, self._tasks = self._tasks, set()
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            await self.cancel(tasks)
            raise

    async def cancel(self, tasks: set[asyncio.Task[None]] | None = None) -> None:
        """Stop every job still running."""
        pending = tasks if tasks is not None else self._tasks
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
