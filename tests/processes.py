"""Real server processes for tests: start on a free loopback port, wait until healthy, stop.

``running_server(url)`` is the usual entry point; ``ServerProcess`` can also be stopped,
killed and restarted on the same port by fault tests.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO

import httpx

from tests.support import TEST_SECRET

START_TIMEOUT_S = 30.0
Command = Callable[[int], Sequence[str]]  # port -> command line
STOP_TIMEOUT_S = 10.0


class ServerError(RuntimeError):
    """A server process that did not start, answer or stop as expected."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def nexus_crm_command() -> list[str]:
    """The ``nexus-crm`` console script of the interpreter running the tests."""
    script = Path(sys.executable).parent / "nexus-crm"
    if not script.exists():
        raise ServerError(f"{script} is missing; install the package (pip install -e .)")
    return [str(script)]


def uvicorn_command(port: int) -> list[str]:
    """uvicorn serving ``create_app`` from the environment, quietly, on ``port``."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "nexus_crm.app:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]


def serve_command(port: int) -> list[str]:
    """``nexus-crm serve`` on ``port`` (the CLI path instead of bare uvicorn)."""
    return [*nexus_crm_command(), "serve", "--port", str(port), "--log-level", "warning"]


def server_env(
    database_url: str,
    *,
    secret: str = TEST_SECRET,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The inherited environment with the server's own variables set for a test."""
    env = dict(os.environ)
    for name in ("NEXUS_CRM_ENV", "GENESIS_WEBHOOK_SECRET", "DATABASE_URL"):
        env.pop(name, None)
    env.update(
        DATABASE_URL=database_url,
        GENESIS_WEBHOOK_SECRET=secret,
        NEXUS_CRM_ENV="development",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra or {})
    return env


def terminate(
    proc: subprocess.Popen[bytes],
    timeout: float = STOP_TIMEOUT_S,
    sig: signal.Signals = signal.SIGTERM,
) -> int:
    """Send ``sig`` to ``proc``'s process group, SIGKILL after ``timeout``; the exit code."""
    if proc.poll() is None:
        _signal_group(proc, sig)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
    return proc.wait(timeout)


def stopped_by(code: int | None, sig: signal.Signals) -> bool:
    """Whether exit ``code`` means the process ended on its own after receiving ``sig``.

    uvicorn shuts down gracefully, then re-raises the signal: -SIGTERM (or 128 + SIGINT
    through the shell's convention) is a clean stop; -SIGKILL means it had to be killed.
    """
    return code in (0, -sig, 128 + sig)


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    # Each server starts in its own session, so its group id is its pid: this reaches
    # uvicorn's worker children too, and nothing the test run did not start.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


class ServerProcess:
    """One server subprocess on a fixed loopback port; stdout and stderr go to a log file.

    Use it as a context manager (or call :meth:`close`): leaving stops the process and
    removes the log. Inside, :meth:`start`, :meth:`stop`, :meth:`kill` and :meth:`restart`
    may be called in any order, e.g. to take the server away from a client and bring it back.
    """

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        port: int | None = None,
        command: Command | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.env = dict(env)
        self.port = port or free_port()
        self._command = command or uvicorn_command
        self._tmp = tempfile.TemporaryDirectory(prefix="nexus-server-")
        self.cwd = cwd or Path(self._tmp.name)
        self.log_path = Path(self._tmp.name) / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def command(self) -> list[str]:
        """The command line that starts the server."""
        return list(self._command(self.port))

    @property
    def running(self) -> bool:
        """Whether the process exists and has not exited."""
        return self.proc is not None and self.proc.poll() is None

    def output(self) -> str:
        """Everything the server wrote to stdout and stderr so far (all starts)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def start(self, timeout: float = START_TIMEOUT_S) -> None:
        """Start the process and wait until ``/healthz`` answers 200."""
        if self.running:
            raise ServerError("the server is already running")
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.command,
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            self.wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise

    def wait_healthy(self, timeout: float = START_TIMEOUT_S) -> None:
        """Poll ``/healthz`` until 200; fail with the server's output on exit or timeout."""
        deadline = time.monotonic() + timeout
        last: object = None
        with httpx.Client(base_url=self.base_url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if not self.running:
                    code = self.proc.returncode if self.proc else None
                    raise ServerError(self._report(f"server exited with code {code}"))
                try:
                    resp = client.get("/healthz")
                    if resp.status_code == 200:
                        return
                    last = f"HTTP {resp.status_code}"
                except httpx.TransportError as exc:
                    last = exc
                time.sleep(0.05)
        raise ServerError(self._report(f"no healthy /healthz within {timeout:.0f} s ({last!r})"))

    def _report(self, what: str) -> str:
        return f"{what}\ncommand: {' '.join(self.command)}\n--- server output ---\n{self.output()}"

    def stop(
        self, timeout: float = STOP_TIMEOUT_S, sig: signal.Signals = signal.SIGTERM
    ) -> int | None:
        """Send ``sig`` (SIGTERM), SIGKILL after ``timeout``; the exit code (None: never ran)."""
        code = terminate(self.proc, timeout, sig) if self.proc is not None else None
        if self._log is not None:
            self._log.close()
            self._log = None
        return code

    def kill(self) -> int | None:
        """SIGKILL at once, like a crash; return the exit code."""
        if self.proc is not None and self.proc.poll() is None:
            _signal_group(self.proc, signal.SIGKILL)
        return self.stop()

    def restart(self, timeout: float = START_TIMEOUT_S) -> None:
        """Stop (gracefully) and start again on the same port."""
        self.stop()
        self.start(timeout)

    def close(self) -> None:
        """Stop the process and remove its log directory."""
        try:
            self.stop()
        finally:
            self._tmp.cleanup()


@contextlib.contextmanager
def running_server(
    database_url: str,
    *,
    secret: str = TEST_SECRET,
    env: Mapping[str, str] | None = None,
    command: Command | None = None,
    port: int | None = None,
    timeout: float = START_TIMEOUT_S,
) -> Iterator[ServerProcess]:
    """A healthy server on ``database_url`` for the ``with`` block; stopped afterwards.

    ``command`` maps a port to the command line (default: uvicorn serving
    ``nexus_crm.app:create_app``; see :func:`serve_command`). A free port that another
    process takes before the server binds it is retried on a new port.
    """
    attempts = 1 if port else 3
    for attempt in range(attempts):
        server = ServerProcess(
            server_env(database_url, secret=secret, extra=env), port=port, command=command
        )
        try:
            server.start(timeout)
        except ServerError:
            taken = "address already in use" in server.output().lower()
            server.close()
            if taken and attempt + 1 < attempts:
                continue
            raise
        break
    try:
        yield server
    finally:
        server.close()
