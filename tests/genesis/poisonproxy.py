"""A reverse proxy that answers 500 for a batch holding a non-finite number, run as a process.

    python -m tests.genesis.poisonproxy --listen-port P --upstream http://127.0.0.1:Q

It stands for a NexusCRM that crashes on ``NaN`` (what an unfixed server on PostgreSQL does:
jsonb refuses it and the request ends in a 500): a ``POST`` whose JSON body holds ``NaN``,
``Infinity`` or ``-Infinity`` anywhere is answered ``500`` without forwarding; everything
else goes to the real server and its answer comes back. ``POST /__outage`` with
``{"status": 500, "retry_after": null}`` makes it answer every other request with that
status (an outage; ``{"status": null}`` ends it). ``GET /__counts`` answers the counts as
JSON (``poisoned``, ``outage``, ``forwarded``, and the ``accepted``/``duplicates`` totals of
the server's answers to ``POST …/events``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import signal
import sys
from collections import Counter
from typing import Any

import httpx

from tests.faultproxy import HOP_BY_HOP, BadRequest, read_request, respond

JSON = {"content-type": "application/json"}


def non_finite(node: Any) -> bool:
    """Whether a decoded JSON value holds NaN or ±inf at any depth."""
    if isinstance(node, float):
        return not math.isfinite(node)
    if isinstance(node, dict):
        return any(non_finite(v) for v in node.values())
    if isinstance(node, list):
        return any(non_finite(v) for v in node)
    return False


def poisoned(body: bytes) -> bool:
    """Whether ``body`` is JSON (as ``json.loads`` reads it) with a non-finite number."""
    try:
        return non_finite(json.loads(body))
    except ValueError:
        return False


class Proxy:
    """Counts, the outage switch and the upstream client; one instance per process."""

    def __init__(self, upstream: str) -> None:
        self.upstream = httpx.AsyncClient(base_url=upstream, timeout=60.0)
        self.counts: Counter[str] = Counter(dict.fromkeys(("poisoned", "outage", "forwarded"), 0))
        self.outage: dict[str, Any] = {"status": None, "retry_after": None}

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            method, target, headers, body = await read_request(reader)
        except (BadRequest, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            writer.transport.abort()
            return
        try:
            await self.answer(writer, method, target, headers, body)
        except OSError:
            writer.transport.abort()
        finally:
            writer.close()

    async def answer(
        self,
        writer: asyncio.StreamWriter,
        method: str,
        target: str,
        headers: dict[str, str],
        body: bytes,
    ) -> None:
        if target == "/__counts":
            await respond(writer, 200, JSON, json.dumps(dict(self.counts)).encode())
        elif target == "/__outage":
            self.outage = json.loads(body)
            await respond(writer, 200, JSON, body)
        elif self.outage["status"] is not None:
            await self.fail(writer)
        elif method == "POST" and poisoned(body):
            self.counts["poisoned"] += 1
            await respond(writer, 500, {"content-type": "text/plain"}, b"Internal Server Error")
        else:
            await self.forward(writer, method, target, headers, body)

    async def fail(self, writer: asyncio.StreamWriter) -> None:
        """Answer as a CRM in an outage (with ``Retry-After`` when one is set)."""
        self.counts["outage"] += 1
        wait = self.outage["retry_after"]
        headers = {} if wait is None else {"retry-after": str(wait)}
        await respond(writer, self.outage["status"], headers, b"outage")

    async def forward(
        self,
        writer: asyncio.StreamWriter,
        method: str,
        target: str,
        headers: dict[str, str],
        body: bytes,
    ) -> None:
        fwd = {k: v for k, v in headers.items() if k not in HOP_BY_HOP}
        resp = await self.upstream.request(method, target, headers=fwd, content=body)
        self.counts["forwarded"] += 1
        if target.endswith("/events") and resp.status_code == 200:
            self.counts["accepted"] += int(resp.json().get("accepted", 0))
            self.counts["duplicates"] += int(resp.json().get("duplicates", 0))
        out = {k: v for k, v in resp.headers.items() if k.lower() not in HOP_BY_HOP}
        await respond(writer, resp.status_code, out, resp.content)


async def serve(port: int, upstream: str) -> None:
    proxy = Proxy(upstream)
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(json.dumps({"listening": port}), flush=True)
    async with server:
        await stop.wait()
    await proxy.upstream.aclose()
    print(json.dumps(dict(proxy.counts)), flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="a proxy answering 500 for NaN-holding bodies")
    p.add_argument("--listen-port", type=int, required=True)
    p.add_argument("--upstream", required=True)
    args = p.parse_args(argv)
    asyncio.run(serve(args.listen_port, args.upstream))
    return 0


if __name__ == "__main__":
    sys.exit(main())
