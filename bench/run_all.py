"""Run every bench script, merge their figures into bench/results/latest.{json,md}.

Each script runs as a subprocess with ``--json bench/results/<script>.json`` (and ``--quick``
when given ``--quick``). A script that fails or is missing is recorded and the others still
run; the exit status is non-zero if any failed (a missing one is only reported).

    .venv/bin/python bench/run_all.py [--quick] [--only ingest.py,ws_latency.py]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import RESULTS, machine

HERE = Path(__file__).parent
SCRIPTS = ("ingest.py", "import10m.py", "queries.py", "ws_latency.py", "track_latency.py")
# import10m.py first: it builds and keeps the 1M and 10M databases that queries.py reuses.
COLUMNS = ("group", "name", "database", "value", "baseline", "ratio", "target", "met?", "notes")


def run_script(script: str, quick: bool, timeout: float) -> tuple[dict[str, Any], list[Any]]:
    """Run one script; return its status record and its figures (tagged with the script)."""
    path, out = HERE / script, RESULTS / f"{Path(script).stem}.json"
    if not path.exists():
        return {"script": script, "status": "missing", "seconds": 0.0}, []
    out.unlink(missing_ok=True)
    cmd = [sys.executable, str(path), "--json", str(out), *(["--quick"] if quick else [])]
    print(f"== {' '.join(cmd[1:])}", flush=True)
    began = time.perf_counter()
    try:
        code: int | str = subprocess.run(cmd, check=False, timeout=timeout).returncode
    except subprocess.TimeoutExpired:
        code = f"timeout after {timeout:.0f} s"
    status = {"script": script, "seconds": round(time.perf_counter() - began, 1)}
    if code != 0:
        return {**status, "status": "failed", "error": f"exit {code}"}, []
    try:
        figures = json.loads(out.read_text())["figures"]
    except (OSError, ValueError, KeyError) as exc:
        return {**status, "status": "failed", "error": f"no result file: {exc}"}, []
    return {**status, "status": "ok"}, [{**f, "script": script} for f in figures]


def fmt(value: float | None) -> str:
    """A number as a person reads it: 12,345 / 12.3 / 1.23."""
    if value is None:
        return ""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if abs(value) >= 0.1 or value == 0 else f"{value:.2g}"


def row(f: dict[str, Any]) -> list[str]:
    """A figure's cells in COLUMNS order."""
    base, target = f.get("baseline"), f.get("target")
    return [
        f["group"],
        f["name"],
        f.get("database") or "",
        f"{fmt(f['value'])} {f['unit']}",
        f"{fmt(base['value'])} {base['unit']} ({base['name']})" if base else "",
        fmt(f.get("ratio")),
        target["text"] if target else "",
        ("yes" if target["met"] else "**no**") if target else "",
        f.get("notes", "").replace("|", "/").replace("\n", " "),
    ]


def markdown(result: dict[str, Any]) -> str:
    """latest.md: the machine, each script's status, and the figures table."""
    m = result["machine"]
    lines = [
        f"# Benchmarks ({result['mode']} mode, {m['date']})",
        "",
        f"Command: `.venv/bin/python {result['command']}`",
        "",
        f"Machine: {m['cores']} cores ({m['cpu']}), {m['ram_gb']} GB RAM, Python {m['python']}, "
        f"SQLite {m['sqlite']}, PostgreSQL {m['postgresql'] or 'not reachable'}; "
        f"load average at start {m['load_average_at_start']}.",
        "",
        "| script | status | seconds |",
        "| --- | --- | --- |",
        *(
            f"| {s['script']} | {s['status']}{': ' + s['error'] if s.get('error') else ''} | "
            f"{s['seconds']} |"
            for s in result["scripts"]
        ),
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + " --- |" * len(COLUMNS),
        *("| " + " | ".join(row(f)) + " |" for f in result["figures"]),
        "",
        "value: median of `runs` (in latest.json); ratio: value / baseline for rates, "
        "baseline / value for latencies unless the notes say otherwise.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    """Run the scripts, write latest.json and latest.md, exit 1 if any script failed."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke check")
    ap.add_argument("--only", default="", help="comma-separated script names (default: all)")
    ap.add_argument("--timeout", type=float, default=None, help="seconds per script")
    args = ap.parse_args()
    scripts = [s for s in SCRIPTS if not args.only or s in args.only.split(",")]
    timeout = args.timeout or (300.0 if args.quick else 3600.0)
    RESULTS.mkdir(parents=True, exist_ok=True)
    statuses, figures = [], []
    for script in scripts:
        status, found = run_script(script, args.quick, timeout)
        statuses.append(status)
        figures += found
    command = "bench/run_all.py" + " ".join(["", *sys.argv[1:]])
    result = {
        "mode": "quick" if args.quick else "full",
        "command": command,
        "machine": machine(),
        "scripts": statuses,
        "figures": figures,
    }
    (RESULTS / "latest.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "latest.md").write_text(markdown(result))
    print((RESULTS / "latest.md").read_text())
    missing = [s["script"] for s in statuses if s["status"] == "missing"]
    if missing:
        print(f"missing (not run): {', '.join(missing)}", file=sys.stderr)
    failed = [s["script"] for s in statuses if s["status"] == "failed"]
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
