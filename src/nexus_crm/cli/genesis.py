"""``nexus-crm genesis``: inspect and repair a GENESIS client's outbox file."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from genesis_crm import OutboxLockedError
from genesis_crm.outbox import Outbox

app = typer.Typer(help="Tools for the GENESIS side (genesis_crm client).", no_args_is_help=True)


class OutboxAction(StrEnum):
    """What to do with an outbox."""

    STATUS = "status"
    RETRY_DEAD = "retry-dead"
    PURGE_DEAD = "purge-dead"


def _when(ts: float | None) -> str:
    return "-" if ts is None else f"{datetime.fromtimestamp(ts, UTC):%Y-%m-%d %H:%M:%S} UTC"


def _print_status(ob: Outbox) -> None:
    st = ob.status()
    typer.echo(f"outbox:        {st['path']}")
    typer.echo(
        f"pending:       {st['pending']} (oldest {_when(st['oldest_created_at'])}, "
        f"max attempts {st['max_attempts']})"
    )
    typer.echo(f"last error:    {st['last_error'] or '-'}")
    typer.echo(f"dead letters:  {st['dead']}")
    for seq, kind, error, payload in ob.dead_letters(10):
        typer.echo(f"  #{seq} {kind}: {error}")
        typer.echo(f"      {json.dumps(json.loads(payload))[:160]}")


@app.command("outbox")
def outbox(
    path: Annotated[Path, typer.Argument(help="the outbox file (CRM_OUTBOX_PATH)")],
    action: Annotated[OutboxAction, typer.Argument()] = OutboxAction.STATUS,
) -> None:
    """Show, retry or purge an outbox's items. Example: nexus-crm genesis outbox ob.db status"""
    if not path.exists():
        typer.echo(f"error: no outbox at {path}", err=True)
        raise typer.Exit(2)
    try:
        ob = Outbox(path)
    except OutboxLockedError as exc:
        typer.echo(f"error: {exc} (stop it first, or use `status` later)", err=True)
        raise typer.Exit(1) from None
    try:
        if action is OutboxAction.RETRY_DEAD:
            typer.echo(f"{ob.retry_dead()} dead letter(s) queued again for delivery")
        elif action is OutboxAction.PURGE_DEAD:
            typer.echo(f"{ob.purge_dead()} dead letter(s) deleted")
        _print_status(ob)
    finally:
        ob.close()
