"""A lean HTTP/1.1 load generator: pre-built, pre-signed requests on raw keep-alive sockets.

httpx spends ~0.5 ms of CPU per request; on 2 cores the generator would then be the
bottleneck. Here a request is bytes built before the clock starts, written to a socket; the
answer is parsed only as far as its status and Content-Length. Two modes:

- closed loop (``saturate``): C connections, each sends its next request when the last answer
  arrived: the server's throughput at saturation;
- open loop (``fixed_rate``): request i is due at t0 + i / rate whatever happened before; its
  latency counts from that due time, so a stalled server is not hidden by a stalled
  generator (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import resource
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from genesis_crm.signing import sign_headers
from nexus_crm.settings import DEV_WEBHOOK_SECRET

PATH = "/agent-usage/events"


def build_request(port: int, body: bytes, secret: str = DEV_WEBHOOK_SECRET) -> bytes:
    """A signed ``POST /agent-usage/events`` as raw HTTP/1.1 bytes."""
    headers = sign_headers(secret, body)
    lines = [f"POST {PATH} HTTP/1.1", f"host: 127.0.0.1:{port}"]
    lines += [f"{k}: {v}" for k, v in headers.items()] + [f"content-length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def single_event(i: int) -> bytes:
    """One usage event with a new event id (the body GENESIS sends for one interaction)."""
    return json.dumps(
        {
            "event_id": str(uuid.uuid4()),
            "user_id": f"bench_{i % 1000}",
            "agent_id": "NEXUS",
            "session_id": f"s{i % 97}",
            "tokens_used": 150,
            "response_time_ms": 1200,
            "subscription_tier": "pro",
        }
    ).encode()


def single_requests(port: int, n: int, start: int = 0) -> list[bytes]:
    """``n`` signed single-event requests, each with its own event id."""
    return [build_request(port, single_event(start + i)) for i in range(n)]


class Conn(asyncio.Protocol):
    """One keep-alive connection; ``request`` sends bytes and returns (status, body)."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCP transport implements asyncio.Transport without subclassing it
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buf[:end]).lower()
        at = head.find(b"content-length:")
        stop = head.find(b"\r\n", at)
        length = int(head[at + 15 : stop if stop > 0 else len(head)]) if at >= 0 else 0
        if len(self.buf) < end + 4 + length:
            return
        status, body = int(self.buf[9:12]), bytes(self.buf[end + 4 : end + 4 + length])
        del self.buf[: end + 4 + length]
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((status, body))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc or ConnectionError("connection closed"))

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        """Send ``raw``; wait for the whole answer."""
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await self.waiter


async def connect(port: int) -> Conn:
    """A new connection to 127.0.0.1:``port``."""
    _transport, conn = await asyncio.get_running_loop().create_connection(Conn, "127.0.0.1", port)
    return conn


@dataclass
class Outcome:
    """What a load phase measured."""

    sent: int = 0
    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    refused: list[float] = field(default_factory=list)  # latencies of the 429/503 answers
    send_lag: list[float] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    seconds: float = 0.0
    generator_cpu: float = 0.0

    def note(self, status: int | str) -> None:
        """Count an answer (2xx is ok) or a failure."""
        if isinstance(status, int) and 200 <= status < 300:
            self.ok += 1
        else:
            self.errors[str(status)] = self.errors.get(str(status), 0) + 1

    def summary(self) -> dict[str, Any]:
        """Rates, latency quantiles (ms) and the generator's own CPU share."""
        lat = sorted(self.latencies)
        lag = sorted(self.send_lag)
        return {
            "sent": self.sent,
            "ok": self.ok,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
            "ok_per_s": self.ok / self.seconds,
            **_quantiles(lat),
            "max_ms": lat[-1] * 1e3 if lat else None,
            **_quantiles(sorted(self.refused), "refused_"),
            "send_lag_p99_ms": lag[int(0.99 * len(lag))] * 1e3 if lag else None,
            "generator_cpu_share": round(self.generator_cpu / self.seconds, 2),
        }


def _quantiles(lat: Sequence[float], prefix: str = "") -> dict[str, float]:
    """p50 and p99 of sorted latencies (s) in ms: ``{prefix}p50_ms``, ``{prefix}p99_ms``."""
    return {
        f"{prefix}p{int(p * 100)}_ms": lat[min(len(lat) - 1, int(p * len(lat)))] * 1e3
        for p in (0.5, 0.99)
        if lat
    }


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """No cyclic GC while measuring: a full collection of the generator's own objects took
    ~100 ms, a stall it would have charged to the server's latency."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _one(conn: Conn, raw: bytes, due: float, out: Outcome, keep: bool) -> None:
    out.sent += 1
    try:
        status, body = await conn.request(raw)
    except (ConnectionError, OSError) as exc:
        out.note(type(exc).__name__)
        raise
    out.latencies.append(time.perf_counter() - due)
    if status in (429, 503):
        out.refused.append(out.latencies[-1])
    out.note(status)
    if keep:
        out.bodies.append(body)


async def saturate(
    port: int,
    requests: Sequence[bytes],
    connections: int,
    seconds: float,
    keep_bodies: bool = False,
) -> Outcome:
    """Closed loop: ``connections`` senders until ``seconds`` pass or the requests run out."""
    out, pool = Outcome(), iter(requests)
    conns = await asyncio.gather(*(connect(port) for _ in range(connections)))

    async def sender(conn: Conn) -> None:
        for raw in pool:
            await _one(conn, raw, time.perf_counter(), out, keep_bodies)
            if time.perf_counter() >= deadline:
                return

    with _no_gc():
        began, cpu = time.perf_counter(), _cpu()
        deadline = began + seconds
        await asyncio.gather(*(sender(c) for c in conns), return_exceptions=True)
        out.seconds, out.generator_cpu = time.perf_counter() - began, _cpu() - cpu
    for c in conns:
        if c.transport is not None:
            c.transport.close()
    return out


async def fixed_rate(
    port: int, requests: Sequence[bytes], rate: float, connections: int = 64, drain_s: float = 10.0
) -> Outcome:
    """Open loop: request i is due at t0 + i / rate; latency counts from its due time.

    Requests still unanswered ``drain_s`` after the last one was due count as errors, with
    the time they had waited as their latency (a lower bound): a server that cannot keep
    the rate shows it in the p99 instead of stalling the benchmark.
    """
    out, queue = Outcome(), asyncio.Queue[tuple[int, float, bytes]]()
    waiting: dict[int, float] = {}
    conns = await asyncio.gather(*(connect(port) for _ in range(connections)))

    async def worker(conn: Conn) -> None:
        while True:
            i, due, raw = await queue.get()
            try:
                await _one(conn, raw, due, out, False)
                del waiting[i]
            finally:
                queue.task_done()

    workers = [asyncio.create_task(worker(c)) for c in conns]
    with _no_gc():
        await _dispatch(requests, rate, queue, waiting, out, drain_s)
    now = time.perf_counter()
    out.latencies += [now - due for due in waiting.values()]
    if waiting:
        out.errors[f"unanswered after {drain_s:.0f} s"] = len(waiting)
    for w in workers:
        w.cancel()
    for c in conns:
        if c.transport is not None:
            c.transport.close()
    return out


async def _dispatch(
    requests: Sequence[bytes],
    rate: float,
    queue: asyncio.Queue[tuple[int, float, bytes]],
    waiting: dict[int, float],
    out: Outcome,
    drain_s: float,
) -> None:
    """Queue request i at its due time; wait up to ``drain_s`` for the answers."""
    began, cpu = time.perf_counter(), _cpu()
    for i, raw in enumerate(requests):
        due = began + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        waiting[i] = due
        out.send_lag.append(time.perf_counter() - due)  # the generator's own lateness
        queue.put_nowait((i, due, raw))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(queue.join(), timeout=drain_s)
    out.seconds, out.generator_cpu = time.perf_counter() - began, _cpu() - cpu
