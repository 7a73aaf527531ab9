"""``nexus-crm simulate`` refuses bad option sets with exit 2 and a readable message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from nexus_crm.cli.main import app
from nexus_crm.simulate.timeline import first_day_for, parse_end

NOW = datetime(2026, 3, 20, 15, 30, tzinfo=UTC)
UTC_ZONE = ZoneInfo("UTC")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "exactly one of --backfill and --live"),
        (["--backfill", "--live", "--truth", "t.json"], "exactly one of --backfill and --live"),
        (["--backfill"], "--backfill needs --truth"),
        (["--backfill", "--truth", "t.json", "--rate", "5"], "apply to --live only"),
        (["--backfill", "--truth", "t.json", "--duration", "5"], "apply to --live only"),
        (["--live"], "--live needs --rate"),
        (["--live", "--rate", "0"], "--live needs --rate"),
        (["--live", "--rate", "2", "--duration", "-1"], "--duration must be positive"),
        (["--backfill", "--truth", "t.json", "--days", "7"], "at least 14"),
        (["--backfill", "--truth", "t.json", "--end", "yesterday"], "is not an ISO 8601"),
        (["--backfill", "--truth", "t.json", "--end", "2999-01-01T00:00:00"], "in the future"),
        (["--backfill", "--truth", "t.json", "--timezone", "Mars/Base"], "IANA time zone"),
        (["--backfill", "--truth", "t.json", "--secret", "hunter2"], "whsec_"),
        (["--live", "--rate", "1", "--base-url", "ftp://crm"], "http(s) URL"),
        (["--backfill", "--truth", "t.json", "--days", "30", "--start", "2999-01-01"], "fewer"),
    ],
)
def test_bad_combinations_exit_2(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["simulate", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_end_accepts_instants_and_dates() -> None:
    assert parse_end(None, UTC_ZONE, NOW) == NOW
    assert parse_end("2026-03-01T10:00:00", UTC_ZONE, NOW) == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert parse_end("2026-03-01", UTC_ZONE, NOW) == datetime(2026, 3, 2, tzinfo=UTC)
    assert parse_end("2026-03-20", UTC_ZONE, NOW) == NOW  # today: up to now
    madrid = ZoneInfo("Europe/Madrid")
    assert parse_end("2026-03-01", madrid, NOW) == datetime(2026, 3, 1, 23, tzinfo=UTC)


def test_the_first_day_is_days_before_the_end_or_given() -> None:
    assert first_day_for(None, NOW, 60, UTC_ZONE) == NOW.date() - timedelta(days=59)
    midnight = datetime(2026, 3, 20, tzinfo=UTC)  # exclusive: the 19th is the last day
    assert first_day_for(None, midnight, 14, UTC_ZONE).isoformat() == "2026-03-06"
    assert first_day_for("2026-01-01", NOW, 60, UTC_ZONE).isoformat() == "2026-01-01"
