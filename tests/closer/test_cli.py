"""``nexus-crm upsell``: the real console script on both databases."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.cli.test_cli import ok, run_cli
from tests.closer.conftest import Inbox, customer

pytestmark = pytest.mark.slow


async def test_start_deliver_list_and_cancel(
    client: httpx.AsyncClient, db_url: str, inbox: tuple[Inbox, int], tmp_path: Path
) -> None:
    await customer(client)
    smtp = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(inbox[1]), "SMTP_STARTTLS": "false"}

    def cli(*args: str) -> str:
        return ok(run_cli("upsell", *args, database_url=db_url, cwd=tmp_path, env=smtp))

    started = cli("start", "cliente_123", "--tier", "elite", "--reason", "from the CLI")
    assert started.startswith("started  ")
    assert "pro → elite" in started
    assert cli("start", "cliente_123", "--tier", "elite").startswith("already active  ")
    assert cli("deliver").strip() == "sent 1, not delivered 0"
    assert len(inbox[0].messages) == 1
    (line,) = cli("list", "--status", "active").splitlines()
    assert "1/3 sent" in line
    assert "cli" in line.split()
    cancelled = cli("cancel", line.split()[0], "--note", "called")
    assert cancelled.split()[1] == "cancelled"
    refused = run_cli(
        "upsell", "start", "nobody", "--tier", "elite", database_url=db_url, cwd=tmp_path
    )
    assert (refused.returncode, refused.stderr.strip()) == (
        1,
        "error: no customer with user_id 'nobody'",
    )
