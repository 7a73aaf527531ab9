"""``nexus-crm churn``: train the churn model, score customers, backtest it."""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

import typer

from nexus_crm.analytics import ChurnConfig
from nexus_crm.analytics.churn import service
from nexus_crm.cli.common import load_settings, run_in_session
from nexus_crm.kit.time import local_day, utcnow
from nexus_crm.settings import Settings

app = typer.Typer(help="Churn probability: train, score, evaluate.", no_args_is_help=True)


class Format(StrEnum):
    """Output format of ``churn score``."""

    CSV = "csv"
    JSON = "json"


def _day(value: datetime | None) -> date:
    settings = load_settings()
    return value.date() if value else local_day(utcnow(), settings.tz)


def _uncached(settings: Settings) -> ChurnConfig:
    """The configured churn settings; a one-off command keeps no snapshot."""
    return ChurnConfig.from_settings(settings).model_copy(update={"cache_seconds": 0})


AsOf = Annotated[datetime | None, typer.Option(formats=["%Y-%m-%d"], help="default: today")]


@app.command("train")
def train(as_of: AsOf = None) -> None:
    """Train as of a day on what was known before it; print the model chosen and its backtest.

    Example: nexus-crm churn train
    """
    settings, day = load_settings(), _day(as_of)
    cfg = _uncached(settings)
    started = time.perf_counter()
    result = run_in_session(
        settings, lambda s: service.scored(s, as_of=day, tz=settings.tz, config=cfg)
    )
    info = result.info
    typer.echo(
        f"model {info.kind} as of {info.as_of}: {info.training_rows} training rows, "
        f"{info.training_positives} cancellations within {info.label_days} days; "
        f"validation AUC {json.dumps(info.validation_auc)}; "
        f"{len(result.scores)} active customers scored in {time.perf_counter() - started:.1f} s"
    )


@app.command("score")
def score(
    as_of: AsOf = None,
    fmt: Annotated[Format, typer.Option("--format")] = Format.CSV,
    limit: Annotated[int | None, typer.Option(min=1, help="only the N riskiest")] = None,
) -> None:
    """Print every active customer's churn probability, top drivers and CLV, riskiest first.

    Example: nexus-crm churn score --as-of 2026-11-24 --format json
    """
    settings, day = load_settings(), _day(as_of)
    cfg = _uncached(settings)
    result = run_in_session(
        settings, lambda s: service.scored(s, as_of=day, tz=settings.tz, config=cfg)
    )
    scores = result.scores[:limit]
    if fmt is Format.JSON:
        body = {
            "as_of": day.isoformat(),
            "model": result.info.model_dump(mode="json"),
            "customers": [s.model_dump(mode="json") for s in scores],
        }
        typer.echo(json.dumps(body))
        return
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["user_id", "tier", "probability", "clv", "driver_1", "driver_2", "driver_3"])
    for s in scores:
        texts = [d.text for d in s.drivers] + [""] * (3 - len(s.drivers))
        writer.writerow([s.user_id, s.tier, f"{s.probability:.4f}", f"{s.clv:.2f}", *texts])
    typer.echo(out.getvalue(), nl=False)


@app.command("evaluate")
def evaluate(
    as_of: Annotated[datetime, typer.Option(formats=["%Y-%m-%d"], help="score on this day")],
    horizon: Annotated[int, typer.Option(min=1, max=365, help="days of outcomes")] = 30,
    threshold: Annotated[float | None, typer.Option(help="default CHURN_ALERT_THRESHOLD")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Backtest: scores at a day against the cancellations of the next days (AUC, lift, P/R).

    Example: nexus-crm churn evaluate --as-of 2026-10-01 --horizon 30
    """
    settings = load_settings()
    cfg = ChurnConfig.from_settings(settings)
    cut = threshold if threshold is not None else cfg.alert_threshold
    ev = run_in_session(
        settings,
        lambda s: service.evaluate_churn(
            s, as_of=as_of.date(), horizon=horizon, tz=settings.tz, threshold=cut, config=cfg
        ),
    )
    if as_json:
        typer.echo(ev.model_dump_json())
        return

    def fmt(v: float | None, digits: int = 3) -> str:
        return "n/a" if v is None else f"{v:.{digits}f}"

    typer.echo(
        f"as of {ev.as_of}, horizon {ev.horizon_days} days: model {ev.model.kind} "
        f"(trained on {ev.model.training_rows} rows, {ev.model.training_positives} positives)\n"
        f"customers {ev.customers}, cancelled within the horizon {ev.positives}\n"
        f"AUC {fmt(ev.auc)}  top-decile lift {fmt(ev.top_decile_lift, 2)}\n"
        f"threshold {ev.threshold:g}: {ev.alerts} alerts, precision {fmt(ev.precision)}, "
        f"recall {fmt(ev.recall)}"
    )
