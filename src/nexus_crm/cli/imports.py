"""``nexus-crm import``: load GENESIS history (events, subscriptions) from JSONL or CSV files.

Exit codes: 0 every line imported (or already there), 1 some lines rejected (each one is
listed on stderr as ``FILE:LINE: field: reason``; the others were imported), 2 nothing could
be read (missing file, unknown format, bad CSV header, corrupt gzip, database not migrated).
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Annotated, TextIO

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.cli.common import load_settings
from nexus_crm.db import create_engine
from nexus_crm.ingest import (
    EVENT_BATCH,
    EVENT_CSV,
    SUBSCRIPTION_CSV,
    CsvSpec,
    ImportCounts,
    ImportFileError,
    ImportHooks,
    Record,
    Rejection,
    Source,
    import_events,
    import_subscriptions,
    open_source,
    records,
)
from nexus_crm.ops.service import check_database
from nexus_crm.settings import Settings
from nexus_crm.wiring import open_sessions

app = typer.Typer(
    help="Import GENESIS history: JSONL or CSV files (gzip accepted), idempotently.",
    no_args_is_help=True,
)
Importer = Callable[
    [async_sessionmaker[AsyncSession], Settings, Iterable[Record], ImportHooks],
    Awaitable[ImportCounts],
]
PLAIN_PROGRESS_SECONDS = 10.0


class FileFormat(StrEnum):
    """How to read the file."""

    auto = "auto"
    jsonl = "jsonl"
    csv = "csv"


FileArg = Annotated[Path, typer.Argument(help="JSONL or CSV file; .gz or gzip content accepted")]
FormatOpt = Annotated[
    FileFormat, typer.Option("--format", help="auto: by suffix (.jsonl/.csv), else by content")
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="no progress output")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print the summary as one JSON object")]


class Reporter:
    """Progress (a bar on a terminal, a line every 10 s otherwise) and rejected lines."""

    def __init__(self, source: Source, *, quiet: bool, err: TextIO | None = None) -> None:
        self.source, self.quiet = source, quiet
        self.err = err or sys.stderr
        self.last_line = time.monotonic()
        self.progress: Progress | None = None
        if not quiet and self.err.isatty():
            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[lines]:,} lines"),
                console=Console(file=self.err),
            )
            self.task = self.progress.add_task(source.path.name, total=source.size, lines=0)

    def __enter__(self) -> Reporter:
        if self.progress:
            self.progress.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.progress:
            self.progress.stop()

    def reject(self, rejection: Rejection) -> None:
        """Print one rejected line as ``FILE:LINE: field: reason``."""
        line = f"{self.source.path}:{rejection.line}: {rejection}"
        if self.progress:
            self.progress.console.print(line, markup=False, highlight=False, soft_wrap=True)
        else:
            print(line, file=self.err)

    def update(self, counts: ImportCounts) -> None:
        """Move the bar, or print a progress line when 10 s have passed."""
        done = self.source.position
        if self.progress:
            self.progress.update(self.task, completed=done, lines=counts.read + counts.blank)
        elif not self.quiet and time.monotonic() - self.last_line >= PLAIN_PROGRESS_SECONDS:
            self.last_line = time.monotonic()
            pct = 100 * done / self.source.size if self.source.size else 100.0
            print(
                f"{self.source.path}: {pct:.0f}% read, {counts.read:,} lines, "
                f"{counts.rejected:,} rejected",
                file=self.err,
                flush=True,
            )


def summary(path: Path, counts: ImportCounts, seconds: float, as_json: bool) -> str:
    """The final counts, as one readable line or one JSON object."""
    per_second = round(counts.read / seconds) if seconds > 0 else 0
    data = {
        "file": str(path),
        "kind": counts.kind,
        **counts.summary(),
        "seconds": round(seconds, 2),
        "lines_per_second": per_second,
    }
    if as_json:
        return json.dumps(data)
    numbers = ", ".join(f"{k} {v:,}" for k, v in counts.summary().items())
    return f"{path}: {numbers} in {seconds:.1f} s ({per_second:,} lines/s)"


async def _import(
    run: Importer,
    path: Path,
    fmt: FileFormat,
    spec: CsvSpec,
    quiet: bool,
) -> ImportCounts:
    settings = load_settings()
    engine = create_engine(settings)
    try:
        sessions = open_sessions(engine, settings)
        problem = await check_database(sessions)
        if problem:
            typer.echo(f"error: {problem}", err=True)
            raise typer.Exit(2)
        with open_source(path) as source, Reporter(source, quiet=quiet) as report:
            stream = records(source, fmt.value, spec)
            return await run(sessions, settings, stream, ImportHooks(report.reject, report.update))
    finally:
        await engine.dispose()


def _run(
    run: Importer,
    path: Path,
    fmt: FileFormat,
    spec: CsvSpec,
    quiet: bool,
    as_json: bool,
) -> None:
    # Each batch allocates a few hundred thousand objects that die at its commit; with the
    # default thresholds the collector would scan them (and all of SQLAlchemy) over and over.
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    started = time.monotonic()
    try:
        counts = asyncio.run(_import(run, path, fmt, spec, quiet))
    except ImportFileError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(summary(path, counts, time.monotonic() - started, as_json))
    raise typer.Exit(1 if counts.rejected else 0)


@app.command("events")
def events(
    file: FileArg,
    fmt: FormatOpt = FileFormat.auto,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
    batch_size: Annotated[int, typer.Option(min=1, help="events per transaction")] = (EVENT_BATCH),
) -> None:
    """Import usage events; re-running is safe. Example: nexus-crm import events usage.jsonl.gz"""
    run = partial(import_events, batch_size=batch_size)
    _run(run, file, fmt, EVENT_CSV, quiet, as_json)


@app.command("subscriptions")
def subscriptions(
    file: FileArg,
    fmt: FormatOpt = FileFormat.auto,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Import subscriptions in file order. Example: nexus-crm import subscriptions subs.csv"""
    _run(import_subscriptions, file, fmt, SUBSCRIPTION_CSV, quiet, as_json)
