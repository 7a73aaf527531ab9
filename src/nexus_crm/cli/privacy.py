"""``nexus-crm privacy``: a customer's data export and erasure; raw-event retention."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated, BinaryIO

import typer

from nexus_crm.cli.common import load_settings, run_in_session
from nexus_crm.db import create_engine, transaction
from nexus_crm.errors import NexusError
from nexus_crm.kit.time import utcnow
from nexus_crm.privacy import service, stream_export
from nexus_crm.settings import Settings
from nexus_crm.wiring import open_sessions

app = typer.Typer(
    help="GDPR/CCPA: export or erase a customer's data; delete old raw events.",
    no_args_is_help=True,
)
CLI_ACTOR = "system:cli"


async def _export(settings: Settings, user_id: str, out: BinaryIO) -> None:
    engine = create_engine(settings)
    try:
        sessions = open_sessions(engine, settings)
        async with transaction(sessions) as session:
            await service.begin_export(session, user_id=user_id, actor=CLI_ACTOR)
        async for chunk in stream_export(sessions, user_id=user_id, exported_at=utcnow()):
            out.write(chunk)
    finally:
        await engine.dispose()


@app.command("export")
def export(
    user_id: str,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="file (default: stdout)")
    ] = None,
) -> None:
    """Export a customer's data as JSON. Example: nexus-crm privacy export c_123 -o c.json"""
    settings = load_settings()
    try:
        if output is None:
            asyncio.run(_export(settings, user_id, sys.stdout.buffer))
            sys.stdout.buffer.write(b"\n")
        else:
            with output.open("wb") as out:
                asyncio.run(_export(settings, user_id, out))
    except NexusError as exc:
        if output is not None:
            output.unlink(missing_ok=True)
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from None
    if output is not None:
        typer.echo(f"exported {user_id} to {output}", err=True)


@app.command("erase")
def erase(
    user_id: str,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
) -> None:
    """Erase a customer's personal data and events. Example: nexus-crm privacy erase c_123 -y"""
    settings = load_settings()
    if not yes:
        typer.confirm(
            f"Erase every personal record of {user_id!r}? This cannot be undone", abort=True
        )
    key = service.erasure_key(settings)
    result = run_in_session(
        settings,
        lambda s: service.erase_customer(
            s, user_id=user_id, key=key, actor=CLI_ACTOR, now=utcnow()
        ),
    )
    typer.echo(result.model_dump_json(indent=2))


@app.command("retention")
def retention(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="count, delete nothing")] = False,
) -> None:
    """Delete raw events past the retention. Example: nexus-crm privacy retention --dry-run"""
    settings = load_settings()
    days = settings.raw_event_retention_days
    if days <= 0:
        typer.echo("retention is off (RAW_EVENT_RETENTION_DAYS=0): raw events are kept")
        return
    result = run_in_session(
        settings,
        lambda s: service.apply_retention(
            s, days=days, now=utcnow(), actor=CLI_ACTOR, dry_run=dry_run
        ),
    )
    verb = "would delete" if dry_run else "deleted"
    typer.echo(
        f"{verb} {result.events} raw events older than {result.cutoff:%Y-%m-%d %H:%M} UTC "
        f"({days} days); aggregates are kept"
    )
