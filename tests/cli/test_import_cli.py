"""``nexus-crm import events|subscriptions``: the real console script, run as a subprocess."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from nexus_crm.cli import imports
from nexus_crm.ingest.importer import ImportCounts, Rejection
from nexus_crm.ingest.readers import open_source
from tests.ingest.history_files import (
    T0,
    Sessions,
    history,
    snapshot,
    totals,
    write_csv,
    write_lines,
)
from tests.processes import nexus_crm_command, server_env
from tests.support import event

pytestmark = pytest.mark.slow


def nexus(*args: str, db_url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``nexus-crm ARGS`` against ``db_url``; stdout and stderr captured (not a terminal)."""
    return subprocess.run(
        [*nexus_crm_command(), *args],
        env=server_env(db_url),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_import_events_then_reimport_reports_every_event_as_duplicate(
    db_url: str, sessions: Sessions, tmp_path: Path
) -> None:
    events = history(40)
    path = write_lines(tmp_path / "genesis.jsonl.gz", events, compress=True)
    first = nexus("import", "events", str(path), db_url=db_url, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith(
        f"{path}: read 40, imported 40, duplicates 0, rejected 0, blank 0 in "
    )
    assert first.stderr == ""  # no terminal, and under 10 s: no progress lines
    before = await snapshot(sessions)
    assert await totals(sessions) == (40, 40, sum(e["tokens_used"] for e in events))

    again = nexus("import", "events", str(path), "--json", db_url=db_url, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert {k: summary[k] for k in ("read", "imported", "duplicates", "rejected")} == {
        "read": 40,
        "imported": 0,
        "duplicates": 40,
        "rejected": 0,
    }
    assert summary["kind"] == "events"
    assert await snapshot(sessions) == before


async def test_rejected_lines_are_listed_on_stderr_and_the_exit_code_is_1(
    db_url: str, sessions: Sessions, tmp_path: Path
) -> None:
    good = history(2)
    lines: list[Any] = [
        good[0],
        "{oops",
        event(tokens_used=-1, timestamp=T0.isoformat()),
        "",
        good[1],
    ]
    path = write_lines(tmp_path / "events.jsonl", lines)
    result = nexus("import", "events", str(path), db_url=db_url, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{path}:2: line: not valid JSON: Expecting property name enclosed in double quotes: "
        "line 1 column 2 (char 1)",
        f"{path}:3: tokens_used: Input should be greater than or equal to 0 (got -1)",
    ]
    assert "read 4, imported 2, duplicates 0, rejected 2, blank 1" in result.stdout
    assert (await totals(sessions))[0] == 2


async def test_subscriptions_csv_import_and_reimport_changes_nothing(
    db_url: str, sessions: Sessions, tmp_path: Path
) -> None:
    columns = ["user_id", "tier", "status", "email", "timestamp"]
    rows = [
        {
            "user_id": "u1",
            "tier": "pro",
            "status": "active",
            "email": "a@example.com",
            "timestamp": T0.isoformat(),
        },
        {"user_id": "u1", "tier": "prime", "status": "active", "timestamp": "2026-04-01T00:00:00Z"},
    ]
    path = write_csv(tmp_path / "subs.csv", rows, columns=columns)
    first = nexus("import", "subscriptions", str(path), "--json", db_url=db_url, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["changed"] == 2
    state = await snapshot(sessions)
    assert state["customers"][0][:3] == ("u1", "prime", "active")
    again = nexus("import", "subscriptions", str(path), "--json", db_url=db_url, cwd=tmp_path)
    assert (json.loads(again.stdout)["changed"], json.loads(again.stdout)["unchanged"]) == (0, 2)
    assert await snapshot(sessions) == state


def test_unreadable_input_or_database_exits_2_with_a_clear_message(
    sqlite_url: str, tmp_path: Path
) -> None:
    missing = nexus(
        "import", "events", str(tmp_path / "nope.jsonl"), db_url=sqlite_url, cwd=tmp_path
    )
    assert missing.returncode == 2
    assert missing.stderr == f"error: {tmp_path / 'nope.jsonl'}: No such file or directory\n"

    bad_header = tmp_path / "h.csv"
    bad_header.write_text("user,agent\nu1,NEXUS\n")
    result = nexus("import", "events", str(bad_header), db_url=sqlite_url, cwd=tmp_path)
    assert result.returncode == 2
    header_error = f"error: {bad_header}:1: CSV header: unknown column(s) user, agent;"
    assert result.stderr.startswith(header_error)

    fresh = f"sqlite:///{tmp_path / 'never-migrated.db'}"
    path = write_lines(tmp_path / "e.jsonl", history(1))
    result = nexus("import", "events", str(path), db_url=fresh, cwd=tmp_path)
    assert result.returncode == 2
    assert "nexus-crm db upgrade" in result.stderr


class Terminal(io.StringIO):
    """A captured stream that says it is a terminal, so that rich draws its bar."""

    def isatty(self) -> bool:
        return True


def test_progress_is_a_bar_on_a_terminal_and_lines_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_lines(tmp_path / "h.jsonl", history(5))
    counts = ImportCounts("events", read=5, stored=4, rejected=1)
    with open_source(path) as source:
        for _ in source.lines():
            pass
        terminal = Terminal()
        with imports.Reporter(source, quiet=False, err=terminal) as report:
            report.reject(Rejection(3, [("tokens_used", "not an integer: '1.5'")]))
            report.update(counts)
        assert f"{path}:3: tokens_used: not an integer: '1.5'" in terminal.getvalue()
        assert "h.jsonl" in terminal.getvalue()
        assert "5 lines" in terminal.getvalue()

        monkeypatch.setattr(imports, "PLAIN_PROGRESS_SECONDS", 0.0)
        plain = io.StringIO()
        with imports.Reporter(source, quiet=False, err=plain) as report:
            report.update(counts)
        assert plain.getvalue() == f"{path}: 100% read, 5 lines, 1 rejected\n"
        quiet = io.StringIO()
        with imports.Reporter(source, quiet=True, err=quiet) as report:
            report.update(counts)
        assert quiet.getvalue() == ""


async def test_calendar_edges_and_non_finite_numbers_are_rejected_lines_not_a_crash(
    db_url: str, sessions: Sessions, tmp_path: Path
) -> None:
    good = history(3)
    early, late = "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"
    nan = json.dumps(event(timestamp=T0.isoformat()))[:-1] + ', "metadata": {"x": NaN}}'
    lines: list[Any] = [good[0], event(timestamp=early), good[1], event(timestamp=late), nan]
    path = write_lines(tmp_path / "edges.jsonl", [*lines, good[2]])
    result = nexus("import", "events", str(path), db_url=db_url, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    rejected = [line.split(": ", 2)[:2] for line in result.stderr.splitlines()]
    assert rejected == [
        [f"{path}:2", "timestamp"],
        [f"{path}:4", "timestamp"],
        [f"{path}:5", "metadata.x"],
    ]
    assert await totals(sessions) == (3, 3, sum(e["tokens_used"] for e in good))
