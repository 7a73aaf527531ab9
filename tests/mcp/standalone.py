"""``nexus-crm mcp --transport http`` as a real process for tests: start, wait, stop."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.processes import START_TIMEOUT_S, ServerError, free_port, nexus_crm_command, terminate


@dataclass
class Standalone:
    """A running standalone MCP server: its port, its process and its output so far."""

    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>/mcp``."""
        return f"http://127.0.0.1:{self.port}/mcp"

    def output(self) -> str:
        """Everything the process wrote to stdout and stderr."""
        return self.log_path.read_text(errors="replace")


def mcp_command(port: int, *args: str) -> list[str]:
    """``nexus-crm mcp --transport http --port <port> ARGS``."""
    return [*nexus_crm_command(), "mcp", "--transport", "http", "--port", str(port), *args]


def mcp_env(api_url: str, server_key: str | None) -> dict[str, str]:
    """The inherited environment, pointing the MCP server at ``api_url`` with ``server_key``."""
    env = {k: v for k, v in os.environ.items() if k != "NEXUS_CRM_API_KEY"}
    env.update(NEXUS_CRM_BASE_URL=api_url, PYTHONUNBUFFERED="1")
    if server_key:
        env["NEXUS_CRM_API_KEY"] = server_key
    return env


def _wait_listening(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    # uvicorn binds its socket after the app's startup: a connection means it is ready.
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerError(f"exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise ServerError(f"did not listen on {port}:\n{log.read_text(errors='replace')}")


@contextlib.contextmanager
def standalone_mcp(
    api_url: str, server_key: str | None, args: Sequence[str] = ()
) -> Iterator[Standalone]:
    """``nexus-crm mcp --transport http ARGS`` on a free port, listening; stopped after."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="nexus-mcp-") as tmp:
        log_path = Path(tmp) / "mcp.log"
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                mcp_command(port, *args),
                env=mcp_env(api_url, server_key),
                cwd=tmp,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                _wait_listening(proc, port, log_path)
                yield Standalone(port, proc, log_path)
            finally:
                terminate(proc)
