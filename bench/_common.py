"""Shared helpers of the bench scripts: the figure schema, the machine, servers, databases.

Every script writes ``{"figures": [...], "machine": {...}, "inputs": {...}}`` with
``--json PATH`` (bench/README.md describes a figure); ``bench/run_all.py`` merges them.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import resource
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

RESULTS = Path(__file__).parent / "results"
BIN = Path(sys.executable).parent
CLI = str(BIN / "nexus-crm")
PG_SERVER = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
# Saturation runs measure the server, not issue 7's limits: every limit off ("" = off).
LOAD_AT_START = [round(x, 2) for x in os.getloadavg()]
NO_RATE_LIMITS = {
    "RATE_LIMIT_PER_KEY": "",
    "RATE_LIMIT_PER_USER": "",
    "RATE_LIMIT_PER_IP": "",
    "RATE_LIMIT_WEBHOOK": "",
}


def median(values: Sequence[float]) -> float:
    """The median of the runs (the figure's value)."""
    return float(statistics.median(values))


def pct(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` by the nearest-rank method."""
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))])


def figure(
    group: str,
    name: str,
    database: str | None,
    runs: Sequence[float],
    unit: str,
    *,
    baseline: tuple[str, float, str] | None = None,
    ratio: float | None = None,
    target: tuple[str, bool] | None = None,
    notes: str = "",
) -> dict[str, Any]:
    """One figure of the shared schema; ``value`` is the median of ``runs``."""
    return {
        "group": group,
        "name": name,
        "database": database,
        "value": round(median(runs), 3),
        "unit": unit,
        "runs": [round(r, 3) for r in runs],
        "baseline": None
        if baseline is None
        else {"name": baseline[0], "value": round(baseline[1], 3), "unit": baseline[2]},
        "ratio": None if ratio is None else round(ratio, 3),
        "target": None if target is None else {"text": target[0], "met": bool(target[1])},
        "notes": notes,
    }


def _meminfo_gb() -> float | None:
    try:
        line = next(
            x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal:")
        )
    except (OSError, StopIteration):
        return None
    return round(int(line.split()[1]) / 1024 / 1024, 1)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def postgres_version() -> str | None:
    """The PostgreSQL server's version (None when it cannot be reached)."""

    async def _ask() -> str:
        import asyncpg

        conn = await asyncpg.connect(PG_SERVER, timeout=5)
        try:
            return str(await conn.fetchval("SHOW server_version"))
        finally:
            await conn.close()

    try:
        return asyncio.run(_ask())
    except Exception:
        return None


def machine() -> dict[str, Any]:
    """What the figures were measured on, and how busy the machine was when it started."""
    return {
        "cores": os.cpu_count(),
        "ram_gb": _meminfo_gb(),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": postgres_version(),
        "platform": platform.platform(),
        "load_average_at_start": LOAD_AT_START,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write_json(
    path: str | None,
    figures: list[dict[str, Any]],
    inputs: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> None:
    """Write the script's result file (``--json PATH``); nothing when ``path`` is None."""
    if not path:
        return
    out = {"figures": figures, "machine": machine(), "inputs": inputs, **(extra or {})}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(out, indent=2) + "\n")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def raise_fd_limit() -> None:
    """Allow as many open sockets as the hard limit does."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def wait_healthy(port: int, proc: subprocess.Popen[bytes], path: str = "/healthz") -> None:
    """Return once ``path`` answers; raise if the process exits or 30 s pass."""
    for _ in range(300):
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            httpx.get(f"http://127.0.0.1:{port}{path}", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate a server this script started, and wait for it."""
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by process ``pid`` (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its descendants, in MB."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        status = Path(f"/proc/{p}/status").read_text()
        total += next(
            int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")
        )
        for task in Path(f"/proc/{p}/task").iterdir():
            todo += [int(c) for c in (task / "children").read_text().split()]
    return total / 1024


@contextmanager
def fresh_postgres(tag: str) -> Iterator[str]:
    """CREATE DATABASE bench_<tag>_<pid> on PG_SERVER; yield its URL; DROP it afterwards."""
    name = f"bench_{tag}_{os.getpid()}"

    async def _sql(*statements: str) -> None:
        import asyncpg

        conn = await asyncpg.connect(PG_SERVER)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    asyncio.run(_sql(drop, f'CREATE DATABASE "{name}"'))
    try:
        yield PG_SERVER.rsplit("/", 1)[0] + f"/{name}"
    finally:
        asyncio.run(_sql(drop))
