"""A fault-injecting HTTP reverse proxy on loopback, run as its own process by fault tests.

    python tests/faultproxy.py --listen-port P --upstream http://127.0.0.1:Q --seed S \\
        --p500 0.2 --p429 0.15 --pdrop 0.1 --pdrop-after 0.1

Each request (HTTP/1.1 with a Content-Length body, one per connection) is read whole, then,
by a seeded draw, one of:

- ``error_500``: answer 500 without forwarding;
- ``error_429``: answer 429 with ``Retry-After: 1`` without forwarding;
- ``drop_before``: reset the connection without forwarding;
- ``drop_after``: forward, let the server commit, then reset the connection instead of
  answering (the client must retry, the server must report duplicates);
- ``passed``: forward and relay the answer.

``GET /__faults`` (never faulted, never forwarded) answers the counts as JSON, including
the ``accepted``/``duplicates`` totals of the server's answers to ``POST …/events``; the
same JSON is printed on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import sys
from collections import Counter
from http import HTTPStatus

import httpx

FAULTS = ("error_500", "error_429", "drop_before", "drop_after")
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "content-encoding",
        "host",
        "upgrade",
        "proxy-connection",
        "te",
        "trailer",
    }
)
MAX_HEAD = 64 * 1024


class BadRequest(Exception):
    """A request this proxy cannot parse."""


class Proxy:
    """Counts and the seeded fault draw; one instance per process."""

    def __init__(self, upstream: str, rng: random.Random, weights: dict[str, float]) -> None:
        self.upstream = httpx.AsyncClient(base_url=upstream, timeout=60.0)
        self.rng = rng
        self.weights = weights
        self.counts: Counter[str] = Counter(dict.fromkeys((*FAULTS, "passed", "requests"), 0))

    def draw(self) -> str:
        """The fate of the next request."""
        x, edge = self.rng.random(), 0.0
        for fault in FAULTS:
            edge += self.weights[fault]
            if x < edge:
                return fault
        return "passed"

    def summary(self) -> dict[str, int]:
        return dict(self.counts)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            method, target, headers, body = await read_request(reader)
        except (BadRequest, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            writer.transport.abort()
            return
        try:
            if target == "/__faults":
                await respond(
                    writer,
                    200,
                    {"content-type": "application/json"},
                    json.dumps(self.summary()).encode(),
                )
                return
            await self.proxy(writer, method, target, headers, body)
        except OSError:
            writer.transport.abort()
        finally:
            writer.close()

    async def proxy(
        self,
        writer: asyncio.StreamWriter,
        method: str,
        target: str,
        headers: dict[str, str],
        body: bytes,
    ) -> None:
        self.counts["requests"] += 1
        fate = self.draw()
        self.counts[fate] += 1
        if fate == "drop_before":
            writer.transport.abort()
            return
        if fate == "error_500":
            await respond(writer, 500, {"content-type": "text/plain"}, b"injected 500")
            return
        if fate == "error_429":
            await respond(writer, 429, {"retry-after": "1"}, b"injected 429")
            return
        fwd = {k: v for k, v in headers.items() if k not in HOP_BY_HOP}
        try:
            resp = await self.upstream.request(method, target, headers=fwd, content=body)
        except httpx.HTTPError:
            self.counts["upstream_errors"] += 1
            writer.transport.abort()
            return
        self.count_answer(target, resp)
        if fate == "drop_after":
            writer.transport.abort()
            return
        out = {k: v for k, v in resp.headers.items() if k.lower() not in HOP_BY_HOP}
        await respond(writer, resp.status_code, out, resp.content)

    def count_answer(self, target: str, resp: httpx.Response) -> None:
        self.counts[f"upstream_{resp.status_code}"] += 1
        if target.endswith("/events") and resp.status_code == 200:
            answer = resp.json()
            self.counts["accepted"] += int(answer.get("accepted", 0))
            self.counts["duplicates"] += int(answer.get("duplicates", 0))


async def read_request(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str], bytes]:
    """Method, target, lower-cased headers and body of one request."""
    head = await reader.readuntil(b"\r\n\r\n")
    if len(head) > MAX_HEAD:
        raise BadRequest("head too large")
    lines = head.decode("latin-1").split("\r\n")
    try:
        method, target, _ = lines[0].split(" ", 2)
    except ValueError:
        raise BadRequest(lines[0]) from None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise BadRequest("chunked bodies are not supported")
    length = int(headers.get("content-length") or 0)
    body = await reader.readexactly(length) if length else b""
    return method, target, headers, body


async def respond(
    writer: asyncio.StreamWriter, status: int, headers: dict[str, str], body: bytes
) -> None:
    """Write one response and close the connection (no keep-alive)."""
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = ""
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines += [f"content-length: {len(body)}", "connection: close", "", ""]
    writer.write("\r\n".join(lines).encode("latin-1") + body)
    await writer.drain()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="fault-injecting HTTP reverse proxy")
    p.add_argument("--listen-port", type=int, required=True)
    p.add_argument("--upstream", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--p500", type=float, default=0.0)
    p.add_argument("--p429", type=float, default=0.0)
    p.add_argument("--pdrop", type=float, default=0.0, help="drop before forwarding")
    p.add_argument("--pdrop-after", type=float, default=0.0, help="drop after forwarding")
    args = p.parse_args(argv)
    if args.p500 + args.p429 + args.pdrop + args.pdrop_after > 1:
        p.error("the fault probabilities add up to more than 1")
    return args


async def serve(args: argparse.Namespace) -> None:
    weights = {
        "error_500": args.p500,
        "error_429": args.p429,
        "drop_before": args.pdrop,
        "drop_after": args.pdrop_after,
    }
    proxy = Proxy(args.upstream, random.Random(args.seed), weights)
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", args.listen_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(json.dumps({"listening": args.listen_port}), flush=True)
    async with server:
        await stop.wait()
    await proxy.upstream.aclose()
    print(json.dumps(proxy.summary()), flush=True)


def main(argv: list[str] | None = None) -> int:
    asyncio.run(serve(parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
