"""The served app (``nexus-crm serve``): built, then out of the garbage collector's reach."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from nexus_crm.cli import serve

PROBE = """
import gc
from nexus_crm.app import create_served_app
app = create_served_app()
print(gc.get_freeze_count(), len(gc.get_objects()), type(app).__name__)
"""


def test_serve_runs_the_app_with_its_start_up_objects_frozen() -> None:
    assert "nexus_crm.app:create_served_app" in Path(serve.__file__).read_text()
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        check=True,
        env={"DASHBOARD_ENABLED": "false", "PATH": ""},
    )
    frozen, tracked, kind = out.stdout.split()
    assert kind == "NexusAPI"
    assert int(frozen) > 100_000  # what building the app loaded
    assert int(tracked) < int(frozen) // 10  # what a full collection still walks
