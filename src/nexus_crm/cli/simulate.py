"""``nexus-crm simulate``: synthetic NGX traffic with known outcomes (docs/simulator.md)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn, ParamSpec
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer

from genesis_crm import ConfigurationError, GenesisCRM, GenesisCRMError
from nexus_crm.settings import DEV_WEBHOOK_SECRET
from nexus_crm.simulate import (
    LiveReport,
    Population,
    SendError,
    Tally,
    backfill,
    build_population,
    build_truth,
    first_day_for,
    history,
    natural_rate,
    parse_end,
    replay_subscriptions,
    stream,
    write_truth,
)

P = ParamSpec("P")


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code``."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def check_mode(
    backfill: bool, live: bool, rate: float | None, duration: float | None, truth: Path | None
) -> None:
    """Refuse contradictory or incomplete option sets (exit 2)."""
    if backfill == live:
        fail("choose exactly one of --backfill and --live")
    if backfill and truth is None:
        fail("--backfill needs --truth PATH (where to write the truth file)")
    if backfill and (rate is not None or duration is not None):
        fail("--rate and --duration apply to --live only")
    if live and (rate is None or rate <= 0):
        fail("--live needs --rate R with R > 0 (events per second)")
    if duration is not None and duration <= 0:
        fail("--duration must be positive (seconds)")


def check_target(base_url: str, secret: str) -> None:
    """Refuse a URL or secret that could never work (exit 2)."""
    if not secret.startswith("whsec_"):
        fail("--secret / CRM_WEBHOOK_SECRET must be a whsec_… secret")
    if not base_url.startswith(("http://", "https://")):
        fail(f"--base-url / CRM_BASE_URL must be an http(s) URL, not {base_url!r}")


def population(
    *, seed: int, customers: int, days: int, start: str | None, end: datetime, tz: ZoneInfo
) -> Population:
    """The population the options describe, or exit 2 naming the bad option."""
    if seed < 0:
        fail("--seed must be ≥ 0")
    try:
        first = first_day_for(start, end, days, tz)
        return build_population(seed=seed, size=customers, days=days, first_day=first, tz=tz)
    except ValueError as exc:
        fail(str(exc))


def write_history_truth(pop: Population, end: datetime, path: Path, tally: Tally | None) -> None:
    """Write the truth file (tallying the history first when no backfill did)."""
    if tally is None:
        tally = Tally()
        for day in history(pop, end):
            tally.observe(day)
    write_truth(path, build_truth(pop, end, tally))
    typer.echo(f"truth: {path} ({pop.size} customers, {sum(tally.events.values()):,} events)")


def run_backfill(
    pop: Population,
    end: datetime,
    *,
    base_url: str,
    secret: str,
    truth: Path,
    batch_size: int,
    concurrency: int,
    progress: bool,
) -> None:
    """Backfill, print the summary, write the truth file; exit 1 on a refused request."""
    try:
        report, tally = asyncio.run(
            backfill(
                pop,
                end,
                base_url=base_url,
                secret=secret,
                batch_size=batch_size,
                concurrency=concurrency,
                show_progress=progress,
            )
        )
    except SendError as exc:
        fail(f"backfill stopped: {exc}", code=1)
    typer.echo(report.summary())
    write_history_truth(pop, end, truth, tally)


def cancel_once(task: asyncio.Task[None]) -> None:
    """Cancel ``task`` unless already cancelling (a second cancel would cut its clean-up)."""
    if not task.cancelling():
        task.cancel()


async def live_main(
    pop: Population,
    *,
    base_url: str,
    secret: str,
    outbox: Path,
    rate: float,
    duration: float | None,
) -> None:
    """Replay subscriptions, then stream through a GenesisCRM client until done or stopped."""
    task = asyncio.current_task()
    assert task is not None
    with contextlib.suppress(NotImplementedError, RuntimeError):  # SIGTERM = Ctrl+C
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, cancel_once, task)
    outbox.parent.mkdir(parents=True, exist_ok=True)
    report = LiveReport()
    try:
        async with GenesisCRM(base_url=base_url, secret=secret, outbox_path=outbox) as client:
            n = await replay_subscriptions(client, pop, datetime.now(UTC))
            typer.echo(
                f"live: {n} subscription updates replayed; about {rate:g} events/s to {base_url} "
                f"(the personas' own pace: {natural_rate(pop, datetime.now(UTC)):.3f}/s); "
                "stop with Ctrl+C"
            )
            await stream(pop, client, rate=rate, duration=duration, say=typer.echo, report=report)
            pending = await client.flush(timeout=30)
            if pending:
                typer.echo(f"live: {pending} item(s) still in the outbox {outbox}")
    finally:
        typer.echo(report.summary())


def _until_stopped(main: Callable[P, Coroutine[Any, Any, None]]) -> Callable[P, None]:
    """``main`` run in an event loop of its own until done, or stopped cleanly by Ctrl+C."""

    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            asyncio.run(main(*args, **kwargs))
        except ConfigurationError as exc:
            fail(str(exc))
        except GenesisCRMError as exc:
            fail(f"live stopped: {exc}", code=1)
        except (KeyboardInterrupt, asyncio.CancelledError):
            typer.echo("live: stopped (undelivered events stay in the outbox for the next run)")

    return run


# Built from live_main so that the blocking entry point takes exactly its parameters.
run_live = _until_stopped(live_main)


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``, or exit 2."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        fail(f"--timezone {name!r} is not an IANA time zone")


# The options whose declaration does not fit on one line of the signature.
BaseUrlOption = Annotated[str, typer.Option(envvar="CRM_BASE_URL", help="NexusCRM URL")]
SecretOption = Annotated[
    str,
    typer.Option(
        envvar="CRM_WEBHOOK_SECRET",
        show_default=False,
        help="whsec_ signing secret [default: dev secret]",
    ),
]
StartOption = Annotated[str | None, typer.Option(help="first day (default: --days before --end)")]
TimezoneOption = Annotated[str, typer.Option(envvar="NEXUS_CRM_TIMEZONE", help="server's days")]
OutboxOption = Annotated[Path, typer.Option(envvar="CRM_OUTBOX_PATH", help="--live: outbox file")]


def history_of(
    *, seed: int, customers: int, days: int, start: str | None, end: str | None, tz: ZoneInfo
) -> tuple[Population, datetime]:
    """The population and the end of its history, or exit 2 naming the bad option."""
    try:
        end_at = parse_end(end, tz, datetime.now(UTC))
    except ValueError as exc:
        fail(str(exc))
    pop = population(seed=seed, customers=customers, days=days, start=start, end=end_at, tz=tz)
    return pop, end_at


def simulate(
    customers: Annotated[int, typer.Option(help="simulated customers", min=1)] = 300,
    days: Annotated[int, typer.Option(help="days of history (≥ 14)")] = 60,
    seed: Annotated[int, typer.Option(help="random seed: same seed, same traffic")] = 42,
    truth: Annotated[Path | None, typer.Option(help="write the truth file here")] = None,
    backfill: Annotated[bool, typer.Option("--backfill", help="send the history")] = False,
    live: Annotated[bool, typer.Option("--live", help="stream events now")] = False,
    rate: Annotated[float | None, typer.Option(help="--live: events per second")] = None,
    base_url: BaseUrlOption = "http://127.0.0.1:8001",
    secret: SecretOption = DEV_WEBHOOK_SECRET,
    end: Annotated[str | None, typer.Option(help="history ends here (ISO; default now)")] = None,
    start: StartOption = None,
    duration: Annotated[float | None, typer.Option(help="--live: stop after seconds")] = None,
    timezone: TimezoneOption = "UTC",
    outbox: OutboxOption = Path("data/simulator_outbox.db"),
    batch_size: Annotated[int, typer.Option(help="events per request", min=1, max=10_000)] = 5000,
    concurrency: Annotated[int, typer.Option(help="requests in flight", min=1, max=32)] = 3,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
) -> None:
    """Traffic with known outcomes. Example: nexus-crm simulate --backfill --truth t.json"""
    check_mode(backfill, live, rate, duration, truth)
    check_target(base_url, secret)
    tz = zone(timezone)
    pop, end_at = history_of(seed=seed, customers=customers, days=days, start=start, end=end, tz=tz)
    if backfill and truth is not None:  # check_mode refused --backfill without --truth
        run_backfill(
            pop,
            end_at,
            base_url=base_url,
            secret=secret,
            truth=truth,
            batch_size=batch_size,
            concurrency=concurrency,
            progress=progress,
        )
        return
    if truth is not None:
        write_history_truth(pop, end_at, truth, None)
    assert rate is not None
    run_live(pop, base_url=base_url, secret=secret, outbox=outbox, rate=rate, duration=duration)


def main() -> None:
    """Run ``simulate`` as a program of its own (``python -m nexus_crm.cli.simulate``)."""
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command()(simulate)
    app()


if __name__ == "__main__":  # how the demo starts it, in a process of its own
    main()
