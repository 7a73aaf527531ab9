"""``nexus-crm demo``: migrate the embedded database, serve, backfill history, stream live.

The simulator runs as a child process (``python -m nexus_crm.cli.simulate``), as GENESIS
would: it backfills the history through the signed batch endpoint, writes the truth file,
then streams live traffic through the ``genesis_crm`` client until the demo stops.

Upsell emails go to the demo mailbox (``closer/mailbox.py``), a loopback SMTP server the
demo starts, and show on the dashboard's Mailbox page: a demo has no mail server to use.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.app import create_app
from nexus_crm.cli.common import load_settings, run_in_session
from nexus_crm.cli.db import migrate
from nexus_crm.closer import PAGE_PATH, DemoMailbox, install_mailbox, installed_mailbox
from nexus_crm.errors import Conflict
from nexus_crm.kit.time import local_day
from nexus_crm.security import create_user, set_password
from nexus_crm.security import service as keys
from nexus_crm.settings import Settings
from nexus_crm.simulate import GENERATOR_VERSION, read_truth

TRUTH_PATH = Path("data/truth.json")
OUTBOX_PATH = Path("data/demo_outbox.db")
STOP_TIMEOUT_S = 10.0
DEMO_EMAIL = "demo@nexus-crm.local"


@dataclass(frozen=True)
class Simulation:
    """What the demo asks of the simulator."""

    customers: int
    days: int
    seed: int
    rate: float
    first_day: date
    timezone: str

    def args(self, base_url: str) -> list[str]:
        """Options shared by the backfill and the live run (same population)."""
        return [
            "--customers",
            str(self.customers),
            "--days",
            str(self.days),
            "--seed",
            str(self.seed),
            "--start",
            self.first_day.isoformat(),
            "--timezone",
            self.timezone,
            "--base-url",
            base_url,
        ]


def first_day(settings: Settings, customers: int, days: int, seed: int) -> date:
    """The first day: ``data/truth.json``'s if it holds this population, else ``days`` ago.

    Continuing the same population makes a re-run resend the same events, which the server
    reports as duplicates instead of doubling the history.
    """
    fresh = local_day(datetime.now(UTC), settings.tz) - timedelta(days=days - 1)
    params = (read_truth(TRUTH_PATH) or {}).get("parameters") or {}
    same = (
        params.get("seed"),
        params.get("customers"),
        params.get("days"),
        params.get("timezone"),
        params.get("generator_version"),
    ) == (seed, customers, days, settings.timezone, GENERATOR_VERSION)
    if not same:
        return fresh
    earlier = date.fromisoformat(params["first_day"])
    if earlier <= fresh and (fresh - earlier).days <= days:
        return earlier
    typer.echo(
        f"demo: {TRUTH_PATH} is from {earlier}; starting a new history "
        "(delete ./data for a clean demo)"
    )
    return fresh


async def run_child(args: list[str], env: dict[str, str]) -> int:
    """Run the simulator with ``args``; stop it (SIGTERM, then SIGKILL) if cancelled."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "nexus_crm.cli.simulate", *args, env=env
    )
    try:
        return await proc.wait()
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_S)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def simulate_when_up(server: uvicorn.Server, sim: Simulation, secret: str) -> int:
    """Once the server answers: backfill (stop the demo if it fails), then stream live."""
    while not server.started:
        await asyncio.sleep(0.05)
    url = f"http://{server.config.host}:{server.config.port}"
    env = {**os.environ, "CRM_WEBHOOK_SECRET": secret}  # not on the command line (ps)
    backfill = [*sim.args(url), "--backfill", "--truth", str(TRUTH_PATH)]
    code = await run_child(backfill, env)
    if code != 0:
        typer.echo(f"demo: the backfill failed (exit {code}); stopping", err=True)
        server.should_exit = True
        return 1
    typer.echo(f"demo: history loaded; try {url}/agent-usage/insights?days={sim.days}")
    live = [*sim.args(url), "--live", "--rate", f"{sim.rate:g}", "--outbox", str(OUTBOX_PATH)]
    return await run_child(live, env)


class DemoServer(uvicorn.Server):
    """A server that, asked to stop, first stops the simulator: its last events get in."""

    simulator: asyncio.Task[int] | None = None
    _stopping = False

    async def on_tick(self, counter: int) -> bool:
        """Keep serving while the simulator winds down (at most ``STOP_TIMEOUT_S``)."""
        sim = self.simulator
        if self.should_exit and not self.force_exit and sim is not None and not sim.done():
            if not self._stopping:
                self._stopping = True
                sim.cancel()  # run_child sends SIGTERM and waits for the child
            return False
        return await super().on_tick(counter)


def demo_app(settings: Settings) -> FastAPI:
    """The demo's app: its upsell emails go to a loopback mailbox the dashboard shows."""
    mailbox = DemoMailbox()
    mailbox.start()
    try:
        app = create_app(mailbox.smtp_settings(settings))
    except BaseException:
        mailbox.stop()
        raise
    install_mailbox(app, mailbox)
    return app


def create_demo_app() -> FastAPI:
    """The demo's app, mailbox included, without the simulator: a ``uvicorn --factory``."""
    return demo_app(Settings())


async def serve_with_simulator(app: FastAPI, host: str, port: int, sim: Simulation) -> int:
    """Serve ``app`` until stopped while the simulator feeds it; the exit code."""
    settings: Settings = app.state.settings
    server = DemoServer(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    task = asyncio.create_task(simulate_when_up(server, sim, settings.webhook_secrets[0]))
    server.simulator = task
    try:
        await server.serve()
    finally:
        finished = task.done() and not task.cancelled()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return task.result() if finished else 0


async def demo_user(session: AsyncSession) -> str:
    """Create the demo dashboard user (or give it a new password); return the password."""
    password = secrets.token_urlsafe(12)
    try:
        await create_user(session, email=DEMO_EMAIL, password=password, role="admin")
    except Conflict:
        await set_password(session, email=DEMO_EMAIL, password=password)
    return password


def print_banner(url: str, settings: Settings, key: str, password: str) -> None:
    """Where the demo serves and how to try it."""
    typer.echo(f"NexusCRM demo on {url}  (database: {settings.database_url})")
    typer.echo(f"dashboard: {url}/  user: {DEMO_EMAIL}  password: {password}")
    smtp = f"{settings.smtp_host}:{settings.smtp_port}"
    where = f"{url}{PAGE_PATH}" if settings.dashboard_enabled else "(no dashboard to show it)"
    typer.echo(f"mailbox: {where}  (upsell emails go to the demo's own SMTP server on {smtp})")
    typer.echo(f"admin API key: {key}")
    typer.echo(f"try: curl -H 'Authorization: Bearer {key}' {url}/agent-usage/insights?days=1")
    typer.echo(f"API docs: {url}/docs   stop with Ctrl+C")


def demo(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8001,
    rate: Annotated[float, typer.Option(help="live events per second", min=0.01)] = 3.0,
    customers: Annotated[int, typer.Option(help="simulated customers", min=1)] = 300,
    days: Annotated[int, typer.Option(help="days of history to backfill", min=14)] = 60,
    seed: Annotated[int, typer.Option(help="simulator seed", min=0)] = 42,
) -> None:
    """Migrate, serve, backfill history and stream live traffic. Example: nexus-crm demo"""
    settings = load_settings()
    asyncio.run(migrate(settings))
    _, key = run_in_session(
        settings,
        lambda s: keys.create_api_key(
            s, name=f"demo-admin-{datetime.now(UTC):%Y%m%d%H%M%S}", scopes=["admin"]
        ),
    )
    password = run_in_session(settings, demo_user)
    app = demo_app(settings)
    print_banner(f"http://{host}:{port}", app.state.settings, key, password)
    sim = Simulation(
        customers, days, seed, rate, first_day(settings, customers, days, seed), settings.timezone
    )
    typer.echo(
        f"demo: backfilling {days} days for {customers} customers, then about "
        f"{rate:g} live events/s; truth file: {TRUTH_PATH}"
    )
    try:
        code = asyncio.run(serve_with_simulator(app, host, port, sim))
    finally:
        mailbox = installed_mailbox(app)
        if mailbox is not None:  # the app's shutdown stops it; not if it never started
            mailbox.stop()
    if code:
        raise typer.Exit(code)
