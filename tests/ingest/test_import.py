"""History import (service level): same results as the webhook, idempotent, every bad line named."""

from __future__ import annotations

import gzip
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from nexus_crm.ingest.importer import EVENT_CSV, derived_event_id
from nexus_crm.ingest.readers import ImportFileError, open_source, records
from nexus_crm.ingest.schemas import UsageEventIn
from nexus_crm.models import AgentUsageEvent, UsageAlert
from nexus_crm.settings import Settings
from tests.conftest import reset_database
from tests.ingest.history_files import (
    T0,
    Sessions,
    csv_text,
    history,
    load,
    problems,
    snapshot,
    totals,
    write_csv,
    write_lines,
)
from tests.support import event, signed


async def test_import_stores_exactly_what_the_webhook_stores(
    client: httpx.AsyncClient,
    sessions: Sessions,
    settings: Settings,
    db_url: str,
    tmp_path: Path,
) -> None:
    events = history(12)
    counts, rejected = await load(sessions, settings, write_lines(tmp_path / "h.jsonl", events))
    assert (counts.read, counts.stored, counts.unchanged, rejected) == (12, 12, 0, [])
    imported = await snapshot(sessions)

    await reset_database(db_url)
    body, headers = signed({"events": events})
    resp = await client.post("/agent-usage/events", content=body, headers=headers)
    assert resp.json() == {"accepted": 12, "duplicates": 0}
    assert await snapshot(sessions) == imported
    assert len(imported["daily"]) > 6  # several days, users and agents
    assert [c[2] for c in imported["changes"] if c[0] == "u0"] == ["pro", "elite"]


async def test_reimport_reports_every_event_as_duplicate_and_changes_nothing(
    sessions: Sessions, settings: Settings, tmp_path: Path
) -> None:
    path = write_lines(tmp_path / "h.jsonl", history(30))
    await load(sessions, settings, path)
    before = await snapshot(sessions)
    assert await totals(sessions) == (30, 30, sum(e["tokens_used"] for e in history(30)))
    counts, rejected = await load(sessions, settings, path, batch_size=7)
    assert counts.summary() == {
        "read": 30,
        "imported": 0,
        "duplicates": 30,
        "rejected": 0,
        "blank": 0,
    }
    assert rejected == []
    assert await snapshot(sessions) == before


@pytest.mark.parametrize("name", ["h.csv", "h.jsonl.gz", "h.csv.gz", "history-export"])
async def test_csv_and_gzip_files_give_the_same_result_as_jsonl(
    sessions: Sessions, settings: Settings, db_url: str, tmp_path: Path, name: str
) -> None:
    events = history(10)
    await load(sessions, settings, write_lines(tmp_path / "h.jsonl", events))
    expected = await snapshot(sessions)
    await reset_database(db_url)
    path = tmp_path / name
    if "csv" in name:
        write_csv(path, events, compress=name.endswith(".gz"))
    else:  # gzip detected by its magic bytes, whatever the name
        write_lines(path, events, compress=True)
    counts, rejected = await load(sessions, settings, path)
    assert (counts.stored, rejected) == (10, [])
    assert await snapshot(sessions) == expected


async def test_bad_lines_are_reported_with_line_and_field_and_the_rest_is_imported(
    sessions: Sessions, settings: Settings, tmp_path: Path
) -> None:
    good = history(3)
    future = (T0 + timedelta(days=3650)).isoformat()
    lines: list[Any] = [
        good[0],
        '{"user_id": "u9", ',  # 2: not JSON
        "[1, 2]",  # 3: not an object
        event(tokens_used=-5, timestamp=T0.isoformat()),  # 4
        event(subscription_tier="platinum", timestamp=T0.isoformat()),  # 5
        event(),  # 6: no timestamp
        event(timestamp=future),  # 7
        "",  # 8: blank
        good[1],
        event(colour="red", timestamp=T0.isoformat()),  # 10: unknown field
        event(tokens_used="12", response_time_ms=1.5, timestamp=T0.isoformat()),  # 11
        event(metadata={"note": "a\u0000b"}, timestamp=T0.isoformat()),  # 12
        "   ",  # 13: blank
        good[2],
    ]
    counts, rejected = await load(sessions, settings, write_lines(tmp_path / "h.jsonl", lines))
    assert counts.summary() == {
        "read": 12,
        "imported": 3,
        "duplicates": 0,
        "rejected": 9,
        "blank": 2,
    }
    assert problems(rejected) == {
        2: ["line"],
        3: ["line"],
        4: ["tokens_used"],
        5: ["subscription_tier"],
        6: ["timestamp"],
        7: ["timestamp"],
        10: ["colour"],
        11: ["tokens_used", "response_time_ms"],
        12: ["metadata"],
    }
    reasons = {r.line: str(r) for r in rejected}
    assert reasons[2].startswith("line: not valid JSON")
    assert reasons[3] == "line: not a JSON object but list"
    assert reasons[4] == "tokens_used: Input should be greater than or equal to 0 (got -5)"
    assert "unknown tier 'platinum'" in reasons[5]
    assert reasons[6].startswith("timestamp: required in a history import")
    assert "in the future" in reasons[7]
    assert "NUL" in reasons[12]
    assert await totals(sessions) == (3, 3, sum(e["tokens_used"] for e in good))


async def test_csv_cells_are_converted_strictly_and_bad_records_named_by_line(
    sessions: Sessions, settings: Settings, tmp_path: Path
) -> None:
    rows = history(4)
    text = csv_text(rows[:2])  # header + lines 2, 3
    # line 4, with a quoted cell over two lines
    text += 'ev-x1,u1,NEXUS,s,12.5,100,pro,2026-03-02T09:00:00Z,"{""a"":\n 1}"\n'
    text += "ev-x2,u1,NEXUS,s,abc,100,pro,2026-03-02T09:00:00Z,[1]\n"  # line 6
    text += "ev-x3,u1,NEXUS,s,10\n"  # line 7: too few cells
    text += "\n"  # line 8: blank
    text += "ev-x4,u1,NEXUS,s,-3,100,pro,2026-03-02T09:00:00Z,\n"  # line 9
    text += csv_text(rows[2:]).split("\n", 1)[1]  # lines 10, 11 (no header)
    path = tmp_path / "h.csv"
    path.write_text(text)
    counts, rejected = await load(sessions, settings, path)
    assert problems(rejected) == {
        4: ["tokens_used"],
        6: ["tokens_used", "metadata"],
        7: ["line"],
        9: ["tokens_used"],
    }
    reasons = {r.line: str(r) for r in rejected}
    assert reasons[4] == "tokens_used: not an integer: '12.5'"
    assert reasons[6] == "tokens_used: not an integer: 'abc'; metadata: not a JSON object"
    assert reasons[7] == "line: 5 cells; the header has 9"
    assert (counts.read, counts.stored, counts.blank) == (8, 4, 1)
    async with sessions() as s:
        meta = await s.scalar(
            select(AgentUsageEvent.event_metadata).where(AgentUsageEvent.event_id == "ev-0003")
        )
    assert meta == {"channel": "app", "i": 3}


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (
            "user_id,agent_id,session_id,tokens_used,response_time_ms,subscription_tier,colour",
            "unknown column(s) colour",
        ),
        (
            "user_id,agent_id,tokens_used,response_time_ms,subscription_tier",
            "missing column(s) session_id",
        ),
    ],
)
async def test_a_csv_header_that_does_not_fit_the_contract_stops_the_import(
    sessions: Sessions, settings: Settings, tmp_path: Path, header: str, message: str
) -> None:
    path = tmp_path / "h.csv"
    path.write_text(header + "\nu1,NEXUS,s,1,1,pro,x\n")
    with pytest.raises(ImportFileError, match=re.escape(message)):
        await load(sessions, settings, path)
    assert await totals(sessions) == (0, 0, 0)


async def test_event_without_id_gets_a_stable_id_from_its_content(
    sessions: Sessions, settings: Settings, tmp_path: Path
) -> None:
    ev = history(1)[0]
    del ev["event_id"]
    await load(sessions, settings, write_lines(tmp_path / "a.jsonl", [ev]))
    expected = derived_event_id(UsageEventIn.model_validate(ev))
    async with sessions() as s:
        assert (await s.scalars(select(AgentUsageEvent.event_id))).all() == [expected]
    assert expected.startswith("imp_")
    assert len(expected) == 36
    # The same event spelt differently (CSV, agent in lower case, other offset) is the same id.
    at = datetime.fromisoformat(ev["timestamp"]).astimezone(timezone(timedelta(hours=2)))
    same = {**ev, "agent_id": ev["agent_id"].lower(), "timestamp": at.isoformat()}
    counts, _ = await load(sessions, settings, write_csv(tmp_path / "a.csv", [same]))
    assert (counts.stored, counts.unchanged) == (0, 1)
    other = {**ev, "tokens_used": ev["tokens_used"] + 1}
    counts, _ = await load(sessions, settings, write_lines(tmp_path / "b.jsonl", [other]))
    assert (counts.stored, counts.unchanged) == (1, 0)


async def test_unreadable_files_raise_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="No such file"), open_source(tmp_path / "x.jsonl"):
        pass
    (tmp_path / "fake.jsonl.gz").write_text('{"a": 1}\n')
    with (
        pytest.raises(ImportFileError, match=r"named \.gz but not gzip-compressed"),
        open_source(tmp_path / "fake.jsonl.gz"),
    ):
        pass
    truncated = gzip.compress(json.dumps(history(1)[0]).encode() * 200)[:-30]
    (tmp_path / "cut.jsonl.gz").write_bytes(truncated)
    with (
        open_source(tmp_path / "cut.jsonl.gz") as source,
        pytest.raises(ImportFileError, match="cannot read the file"),
    ):
        list(records(source, "auto", EVENT_CSV))


async def test_limits_are_checked_once_the_history_is_in(
    client: httpx.AsyncClient,
    sessions: Sessions,
    settings: Settings,
    db_url: str,
    tmp_path: Path,
) -> None:
    """A customer over its limit gets the same alert from an import (in small batches) as
    from the webhook: checked once after the last batch, as of now."""
    now = datetime.now(UTC)
    events = [
        event(
            user_id="heavy",
            subscription_tier="essential",
            tokens_used=20_000,
            timestamp=(now - timedelta(minutes=i)).isoformat(),
        )
        for i in range(12)
    ]
    events += [
        event(
            user_id="light",
            subscription_tier="essential",
            tokens_used=10,
            timestamp=now.isoformat(),
        )
    ]
    counts, _ = await load(
        sessions, settings, write_lines(tmp_path / "h.jsonl", events), batch_size=4
    )
    assert counts.stored == 13
    imported = await limit_alerts(sessions)
    assert [(a[0], a[1]) for a in imported] == [("heavy", "usage_limit_exceeded")]

    await reset_database(db_url)
    body, headers = signed({"events": events})
    assert (await client.post("/agent-usage/events", content=body, headers=headers)).is_success
    assert await limit_alerts(sessions) == imported


async def limit_alerts(sessions: Sessions) -> list[tuple[Any, ...]]:
    """(user, type, severity, usage %) of the usage-limit alerts."""
    async with sessions() as s:
        rows = (await s.execute(select(UsageAlert).order_by(UsageAlert.user_id))).scalars()
        return [
            (a.user_id, a.alert_type, a.severity, a.data["usage_percentage"])
            for a in rows
            if a.alert_type.startswith("usage_limit")
        ]
