"""``nexus-crm evaluate``: every detector's precision and recall against a simulation's truth."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import asdict
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from nexus_crm.cli.common import load_settings
from nexus_crm.errors import NexusError
from nexus_crm.simulate import Evaluation, ReplayStats, evaluate_truth, read_truth


class Output(StrEnum):
    """Output format of ``evaluate``."""

    TEXT = "text"
    JSON = "json"


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def render(result: Evaluation) -> str:
    """The scores as a table, then each detector's figures."""
    p, r = result.parameters, result.replay
    lines = [
        f"seed {p['seed']}, {p['customers']} customers, {p['days']} days from {p['first_day']} "
        f"({p['timezone']}); replayed {r.events:,} events in {r.steps:,} steps, "
        f"{r.daily_evaluations} daily evaluations, {r.seconds:.0f} s",
        "",
        f"{'detector':38} {'precision':>9} {'recall':>7}  {'target':58} met",
    ]
    for s in result.scores:
        lines.append(
            f"{s.detector:38} {_fmt(s.precision):>9} {_fmt(s.recall):>7}  {s.target:58} "
            f"{'yes' if s.met else 'NO'}"
        )
    for s in result.scores:
        lines += ["", f"{s.detector}:"] + [f"  {k}: {v}" for k, v in s.figures.items()]
    return "\n".join(lines)


def _progress(total: int) -> Callable[[ReplayStats], None]:
    def show(stats: ReplayStats) -> None:
        typer.echo(
            f"  day {stats.days_done[-1]} ({stats.daily_evaluations}/{total}), "
            f"{stats.events:,} events",
            err=True,
        )

    return show


def _load_truth(truth: Path) -> dict[str, Any]:
    """The truth file's contents; exit 2 when it is not one ``simulate`` wrote."""
    data = read_truth(truth)
    if data is None:
        typer.echo(f"error: {truth} is not a truth file of `nexus-crm simulate`", err=True)
        raise typer.Exit(2)
    return data


def _replay(
    data: dict[str, Any], *, database_url: str | None, step_minutes: int, daily_hour: int
) -> Evaluation:
    """Replay the truth's history and score the detectors; exit 2 on a refused replay."""
    settings = load_settings()
    days = int(data["window"]["days"])
    try:
        return asyncio.run(
            evaluate_truth(
                data,
                settings=settings,
                database_url=database_url,
                step=timedelta(minutes=step_minutes),
                daily_hour=daily_hour,
                progress=_progress(days),
            )
        )
    except NexusError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(2) from None


def _print(result: Evaluation, output: Output) -> None:
    """Print the evaluation as a table or as JSON."""
    if output is Output.JSON:
        scores = [asdict(s) for s in result.scores]
        body = {"met": result.met, "replay": asdict(result.replay), "scores": scores}
        typer.echo(json.dumps(body, indent=1, default=str))
    else:
        typer.echo(render(result))


def evaluate(
    truth: Annotated[Path, typer.Option(help="truth file written by `nexus-crm simulate`")],
    database_url: Annotated[
        str | None, typer.Option(help="an EMPTY database to replay into (default: scratch SQLite)")
    ] = None,
    step_minutes: Annotated[
        int, typer.Option(min=1, max=60, help="minutes between replay steps (scheduler interval)")
    ] = 5,
    daily_hour: Annotated[
        int, typer.Option(min=0, max=23, help="local hour of the daily evaluation")
    ] = 12,
    output: Annotated[Output, typer.Option("--format", help="text or json")] = Output.TEXT,
    check: Annotated[bool, typer.Option(help="exit 1 when a detector misses its target")] = False,
) -> None:
    """Replay a simulation's history and print each detector's precision and recall.

    Example: nexus-crm simulate --backfill --truth t.json && nexus-crm evaluate --truth t.json
    """
    data = _load_truth(truth)
    result = _replay(
        data, database_url=database_url, step_minutes=step_minutes, daily_hour=daily_hour
    )
    _print(result, output)
    if check and not result.met:
        raise typer.Exit(1)
