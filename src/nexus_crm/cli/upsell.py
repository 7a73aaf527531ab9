"""``nexus-crm upsell``: list, start and cancel upsell sequences; send due steps once."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated

import typer

from nexus_crm.cli.common import load_settings, run_in_session
from nexus_crm.closer import deliver_due, service
from nexus_crm.closer.schemas import SequenceOut, SequenceStatus
from nexus_crm.db import create_engine
from nexus_crm.kit.time import utcnow
from nexus_crm.wiring import open_sessions

app = typer.Typer(help="NGX_Closer upsell sequences (docs/upsell.md).", no_args_is_help=True)
CLI_ACTOR = "cli"


def _line(s: SequenceOut) -> str:
    sent = sum(1 for st in s.steps if st.status == "sent")
    auto = "  auto" if s.automatic else ""
    return (
        f"{s.id}  {s.status:10}  {s.user_id}  {s.current_tier} → {s.recommended_tier}  "
        f"{sent}/{len(s.steps)} sent  {s.created_at:%Y-%m-%d %H:%M}  {s.created_by}{auto}"
    )


@app.command("list")
def list_sequences(
    status: Annotated[SequenceStatus | None, typer.Option(help="only this status")] = None,
    user: Annotated[str | None, typer.Option(help="only this customer's")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
) -> None:
    """List sequences, newest first. Example: nexus-crm upsell list --status active"""
    found = run_in_session(
        load_settings(),
        lambda s: service.list_sequences(s, status=status, user_id=user, limit=limit),
    )
    for seq in found:
        typer.echo(_line(seq))
    typer.echo(f"{len(found)} sequence(s)", err=True)


@app.command("start")
def start(
    user_id: str,
    tier: Annotated[str, typer.Option("--tier", help="the recommended tier")],
    reason: Annotated[str, typer.Option(help="why (1-500 characters)")] = "started from the CLI",
) -> None:
    """Start a sequence. Example: nexus-crm upsell start pro_user_123 --tier elite"""
    settings = load_settings()
    plan, by = service.SequencePlan.from_settings(settings), service.Starter(actor=CLI_ACTOR)
    result = run_in_session(
        settings,
        lambda s: service.start_sequence(
            s,
            user_id=user_id,
            recommended_tier=tier,
            reason=reason,
            by=by,
            now=utcnow(),
            plan=plan,
        ),
    )
    typer.echo(("started  " if result.created else "already active  ") + _line(result.sequence))


@app.command("cancel")
def cancel(
    sequence_id: uuid.UUID, note: Annotated[str | None, typer.Option(help="why")] = None
) -> None:
    """Cancel an active sequence. Example: nexus-crm upsell cancel ID --note 'called them'"""
    seq = run_in_session(
        load_settings(),
        lambda s: service.end_sequence(
            s, sequence_id=sequence_id, to="cancelled", actor=CLI_ACTOR, now=utcnow(), note=note
        ),
    )
    typer.echo(_line(seq))


@app.command("deliver")
def deliver() -> None:
    """Send the steps due now, once (as the worker does). Example: nexus-crm upsell deliver"""
    settings = load_settings()

    async def _main() -> tuple[int, int]:
        engine = create_engine(settings)
        try:
            done = await deliver_due(open_sessions(engine, settings), settings)
        finally:
            await engine.dispose()
        return len(done.sent), done.retried + done.failed

    sent, failed = asyncio.run(_main())
    typer.echo(f"sent {sent}, not delivered {failed}")
