"""``nexus-crm alerts``: evaluate the alert rules once, list alerts, act on one."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Annotated

import typer

from nexus_crm.alerts import AlertPolicy, service
from nexus_crm.alerts.schemas import AlertOut, AlertType, StatusFilter
from nexus_crm.cli.common import load_settings, run_in_session
from nexus_crm.kit.time import as_utc, utcnow

app = typer.Typer(
    help="Usage alerts: evaluate rules, list, acknowledge/resolve/dismiss.", no_args_is_help=True
)
CLI_ACTOR = "cli"


def _line(a: AlertOut) -> str:
    snoozed = f"  snoozed until {a.snoozed_until:%Y-%m-%d %H:%M}" if a.snoozed_until else ""
    return (
        f"{a.id}  {a.status:12}  {a.severity:8}  {a.alert_type:24}  {a.subject}  "
        f"{a.period_key}  {a.title}{snoozed}"
    )


@app.command("evaluate")
def evaluate(
    now: Annotated[datetime | None, typer.Option(help="evaluate as of (default: now)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Run every alert rule once and print what changed. Example: nexus-crm alerts evaluate"""
    settings = load_settings()
    at = as_utc(now) if now else utcnow()
    changes = run_in_session(
        settings,
        lambda s: service.evaluate_alerts(s, now=at, policy=AlertPolicy.from_settings(settings)),
    )
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "raised": [a.model_dump(mode="json") for a in changes.raised],
                    "resolved": [a.model_dump(mode="json") for a in changes.resolved],
                }
            )
        )
        return
    typer.echo(f"raised {len(changes.raised)}, resolved {len(changes.resolved)}")
    for a in changes.raised:
        typer.echo(f"raised    {_line(a)}")
    for a in changes.resolved:
        typer.echo(f"resolved  {_line(a)}  ({a.history[-1].note})")


@app.command("list")
def list_alerts(
    status: Annotated[
        StatusFilter, typer.Option(help="open, a status, or all")
    ] = StatusFilter.OPEN,
    alert_type: Annotated[AlertType | None, typer.Option("--type")] = None,
    user: Annotated[str | None, typer.Option(help="only this customer's")] = None,
    snoozed: Annotated[bool, typer.Option(help="include snoozed alerts")] = False,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
) -> None:
    """List alerts, newest first. Example: nexus-crm alerts list --status all --user cliente_1"""
    alerts = run_in_session(
        load_settings(),
        lambda s: service.list_alerts(
            s,
            status=status,
            alert_type=alert_type.value if alert_type else None,
            user_id=user,
            include_snoozed=snoozed,
            limit=limit,
            now=utcnow(),
        ),
    )
    for a in alerts:
        typer.echo(_line(a))
    typer.echo(f"{len(alerts)} alert(s)", err=True)


def _action(name: str, verb: str) -> None:
    fn = getattr(service, f"{name}_alert")

    def command(
        alert_id: uuid.UUID, note: Annotated[str | None, typer.Option(help="why")] = None
    ) -> None:
        alert = run_in_session(
            load_settings(),
            lambda s: fn(s, alert_id=alert_id, actor=CLI_ACTOR, now=utcnow(), note=note),
        )
        typer.echo(_line(alert))

    command.__doc__ = f"{verb} an alert. Example: nexus-crm alerts {name} ID --note '…'"
    app.command(name)(command)


for _name, _verb in (
    ("acknowledge", "Acknowledge"),
    ("resolve", "Resolve"),
    ("dismiss", "Dismiss"),
):
    _action(_name, _verb)
