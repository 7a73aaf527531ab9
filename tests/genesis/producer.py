"""A GENESIS producer for fault tests, run as its own process (so it can be SIGKILLed).

    python tests/genesis/producer.py --base-url URL --secret whsec_… --outbox PATH \\
        --count N --rate R --start K --log PATH [--flush-timeout S]

Sends events ``K … K+N-1`` with fields derived from the index (see :func:`event_fields`)
at about ``R`` per second (0: as fast as possible). After each ``track_agent_usage`` call
returns, the line ``<index> <event_id>`` is appended to the log and fsynced, so the test
knows exactly which calls returned, even after a SIGKILL. At the end it waits up to
``--flush-timeout`` s for delivery and exits 0 if nothing is pending, 3 otherwise. It prints
one JSON line on start (``pending_at_start``: what an earlier run left in the outbox) and
one at the end (``pending``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from typing import Any

from genesis_crm import GenesisCRM, Outbox

AGENTS = ("NEXUS", "BLAZE", "SAGE", "WAVE", "LUNA")
USERS = 17
EXIT_PENDING = 3


def event_fields(index: int) -> dict[str, Any]:
    """The predictable fields of event ``index`` (everything but its id and time)."""
    return {
        "user_id": f"fault_user_{index % USERS}",
        "agent_id": AGENTS[index % len(AGENTS)],
        "session_id": f"fault_session_{index // 10}",
        "tokens_used": 100 + index % 97,
        "response_time_ms": 200 + (index * 37) % 4000,
        "subscription_tier": "pro",
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base-url", required=True)
    p.add_argument("--secret", required=True)
    p.add_argument("--outbox", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--rate", type=float, default=0.0, help="events per second; 0: no limit")
    p.add_argument("--start", type=int, default=0, help="index of the first event")
    p.add_argument("--log", required=True, help="file of '<index> <event_id>' lines")
    p.add_argument("--flush-timeout", type=float, default=60.0)
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--flush-interval", type=float, default=0.1)
    return p.parse_args(argv)


def pending_in(path: str) -> int:
    """Items an earlier run left in the outbox (opens and releases it)."""
    outbox = Outbox(path)
    try:
        return outbox.pending
    finally:
        outbox.close()


def say(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


async def produce(args: argparse.Namespace) -> int:
    say(pending_at_start=pending_in(args.outbox))
    # Fast-converging retries for tests. The real defaults are flush_interval=1.0,
    # backoff_base=0.5, backoff_cap=60.0: after a 30 s outage a client may wait up to a
    # minute before its next try, which is right for production and too slow for CI.
    client = GenesisCRM(
        base_url=args.base_url,
        secret=args.secret,
        outbox_path=args.outbox,
        batch_size=args.batch_size,
        flush_interval=args.flush_interval,
        backoff_base=0.2,
        backoff_cap=2.0,
        timeout=10.0,
    )
    fd = os.open(args.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    t0 = time.monotonic()
    try:
        for n in range(args.count):
            if args.rate > 0:
                ahead = t0 + n / args.rate - time.monotonic()
                if ahead > 0:
                    await asyncio.sleep(ahead)
            index = args.start + n
            event_id = await client.track_agent_usage(**event_fields(index))
            # One write(2) per line: a SIGKILL leaves whole lines only.
            os.write(fd, f"{index} {event_id}\n".encode())
            os.fsync(fd)
        produced_in = time.monotonic() - t0
        pending = await client.flush(timeout=args.flush_timeout)
        say(produced=args.count, produced_in_s=round(produced_in, 2), pending=pending)
    finally:
        os.close(fd)
        await client.aclose(timeout=0)
    return 0 if pending == 0 else EXIT_PENDING


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(produce(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
