"""bench/ingest.py's runs → figures of the shared schema (medians, baselines, targets)."""

from __future__ import annotations

from typing import Any

from _common import figure, median

Run = dict[str, Any]
ENV_NOTE = "rate limits and background workers off; one uvicorn worker"


def _bare(results: list[Run]) -> list[Run]:
    return [r for r in results if r["database"] is None]


def batch_figures(runs: list[Run], db: str, size: dict[str, Any]) -> list[dict[str, Any]]:
    """Batch ingest events/s against the raw bare-table write; duplicate replay events/s."""
    rates = [r["batch"]["stored"] / r["batch"]["seconds"] for r in runs]
    raw = median([r["raw_rows_per_s"] for r in runs])
    value = median(rates)
    how = "asyncpg COPY" if db == "postgresql" else "sqlite3 executemany"
    if db == "postgresql":
        target = ("≥ 50,000 events/s and ≥ 1/3 of raw COPY", value >= 50_000 and value >= raw / 3)
    else:
        target = ("≥ 40,000 events/s", value >= 40_000)
    stored = [r["batch"]["stored"] for r in runs]
    cpu = median([r["batch"]["server_cpu_share"] for r in runs])
    errors = [r["batch"]["errors"] for r in runs if r["batch"]["errors"]]
    notes = (
        f"{size['events']:,} events in {size['batch']:,}-event signed batches over "
        f"{size['clients']} connections, each answered after its commit; stored per run "
        f"{stored} (checked in the database); errors {errors or 'none'}; baseline: {how} of "
        "the same rows, pre-converted, same batches, one connection, one transaction per "
        "batch, into a bare table of the same columns with only the primary key; the server "
        f"process used {cpu:.2f} of a core (the database's processes not counted); {ENV_NOTE}"
    )
    replay = [r["replay"]["duplicates"] / r["replay"]["seconds"] for r in runs]
    unchanged = all(r["replay"]["stored"] == r["batch"]["stored"] for r in runs)
    dup_all = all(r["replay"]["duplicates"] == r["events"] for r in runs)
    return [
        figure(
            "ingest",
            "batch ingest over HTTP, durable",
            db,
            rates,
            "events/s",
            baseline=(f"raw {how} into a bare table", raw, "rows/s"),
            ratio=value / raw,
            target=target,
            notes=notes,
        ),
        figure(
            "ingest",
            "duplicate replay of the same batches",
            db,
            replay,
            "events/s",
            baseline=("first ingest of the same batches", value, "events/s"),
            ratio=median(replay) / value,
            notes=f"every event answered as a duplicate: {dup_all}; event count unchanged: "
            f"{unchanged}; new signatures, same bodies; {ENV_NOTE}",
        ),
    ]


def _single(r: Run, key: str) -> dict[str, Any]:
    single: dict[str, Any] = r["single"][key]
    return single


def single_figures(
    runs: list[Run], bare: list[Run], db: str | None, rate: float
) -> list[dict[str, Any]]:
    """Saturation req/s and p50/p99 at ``rate`` req/s, each next to the bare endpoint's."""
    sat = [_single(r, "saturation")["ok_per_s"] for r in runs]
    p50 = [_single(r, "fixed_rate")["p50_ms"] for r in runs]
    p99 = [_single(r, "fixed_rate")["p99_ms"] for r in runs]
    b_sat = median([_single(r, "saturation")["ok_per_s"] for r in bare])
    b50 = median([_single(r, "fixed_rate")["p50_ms"] for r in bare])
    b99 = median([_single(r, "fixed_rate")["p99_ms"] for r in bare])
    gen = median([_single(r, "saturation")["generator_cpu_share"] for r in runs])
    cpu = median([_single(r, "saturation")["server_cpu_share"] for r in runs])
    errors = [
        e
        for r in runs
        for e in (_single(r, "saturation")["errors"], _single(r, "fixed_rate")["errors"])
        if e
    ]
    lag = median([_single(r, "fixed_rate")["send_lag_p99_ms"] for r in runs])
    conns = runs[0]["single"]["saturation"].get("connections", "")
    name = "single signed events" if db else "bare FastAPI endpoint (parse only)"
    base = "bare FastAPI endpoint"
    sat_notes = (
        f"closed loop, {conns} keep-alive connections, pre-signed requests; server CPU "
        f"share {cpu}, generator CPU share {gen} (of one core each; 2 cores in all); "
        f"errors {errors or 'none'}; {ENV_NOTE}"
    )
    lat_notes = (
        f"open loop at {rate:,.0f} req/s, latency from each request's due time; "
        f"generator dispatch lag p99 {lag:.2f} ms; ratio = bare / value"
    )
    if db is None:
        ceiling = median(sat) / max(gen, 0.01)
        verdict = (
            "far above this figure: the bare endpoint, not the generator, is measured"
            if ceiling >= 2 * median(sat)
            else "close to this figure: the generator may be the limit"
        )
        sat_notes += (
            f"; the generator's own ceiling (req/s ÷ its CPU share): about "
            f"{ceiling:,.0f} req/s on one core, {verdict}"
        )
        return [
            _service_figure(runs, None, None, name),
            figure("single", f"{name}: saturation", None, sat, "req/s", notes=sat_notes),
            figure("single", f"{name}: p50 at {rate:,.0f} req/s", None, p50, "ms", notes=lat_notes),
            figure("single", f"{name}: p99 at {rate:,.0f} req/s", None, p99, "ms", notes=lat_notes),
        ]
    v_sat, v50, v99 = median(sat), median(p50), median(p99)
    return [
        _service_figure(runs, bare, db, name),
        figure(
            "single",
            f"{name}: saturation",
            db,
            sat,
            "req/s",
            baseline=(base, b_sat, "req/s"),
            ratio=v_sat / b_sat,
            target=("≥ 4,000 req/s and ≥ 0.6 of bare", v_sat >= 4_000 and v_sat >= 0.6 * b_sat),
            notes=sat_notes,
        ),
        figure(
            "single",
            f"{name}: p50 at {rate:,.0f} req/s",
            db,
            p50,
            "ms",
            baseline=(base, b50, "ms"),
            ratio=b50 / v50,
            notes=lat_notes,
        ),
        figure(
            "single",
            f"{name}: p99 at {rate:,.0f} req/s",
            db,
            p99,
            "ms",
            baseline=(base, b99, "ms"),
            ratio=b99 / v99,
            target=("p99 ≤ 10 ms at 1,000 req/s", v99 <= 10),
            notes=lat_notes,
        ),
        _overload_figure(runs, db, name),
    ]


def _overload_figure(runs: list[Run], db: str, name: str) -> dict[str, Any]:
    """At 2x the measured saturation: how fast the excess is refused, and nothing broke."""
    over = [_single(r, "overload") for r in runs]
    refused_p99 = [o["refused_p99_ms"] for o in over if o["refused_n"]]
    others = [{k: v for k, v in o["errors"].items() if k not in ("429", "503")} for o in over]
    alive = all(o["alive_after"] for o in over)
    intact = all(r["single"]["stored"] == r["single"]["answered_ok"] for r in runs)
    met = bool(refused_p99) and median(refused_p99) < 5 and alive and intact and not any(others)
    notes = (
        f"open loop at 2x this run's saturation ({median([o['rate'] for o in over]):,.0f} "
        f"req/s offered) over {over[0]['connections']} connections for "
        f"{median([o['seconds'] for o in over]):.1f} s, latency from each request's due time; "
        f"refused (503 overloaded) per run {[o['refused_n'] for o in over]}"
        + (
            f", refused p50 {median([o['refused_p50_ms'] for o in over if o['refused_n']]):.2f} ms"
            if refused_p99
            else " (none refused: the load offered did not exceed what the "
            "server absorbed, so the figure has no value)"
        )
        + f"; accepted {median([o['ok_per_s'] for o in over]):,.0f} req/s, p99 of all answers "
        f"{median([o.get('p99_ms', 0) for o in over]):.1f} ms; other failures {others}; "
        f"server answering /readyz after: {alive}; events stored in the single-event phases = "
        f"their 2xx answers: {intact}; generator dispatch lag p99 "
        f"{median([o['send_lag_p99_ms'] for o in over]):.2f} ms"
    )
    fig = figure(
        "single",
        f"{name}: refusals at 2x saturation, p99",
        db,
        refused_p99 or [0.0],
        "ms",
        target=("no crash, excess answered 429/503 in < 5 ms", met),
        notes=notes,
    )
    return fig if refused_p99 else {**fig, "value": None, "runs": []}


def _service_figure(
    runs: list[Run], bare: list[Run] | None, db: str | None, name: str
) -> dict[str, Any]:
    """Server CPU ms per request with one connection: the cost of one event, no queueing."""
    cost = [_single(r, "serial")["server_cpu_ms_per_request"] for r in runs]
    p50 = median([_single(r, "serial")["p50_ms"] for r in runs])
    rate = median([_single(r, "serial")["ok_per_s"] for r in runs])
    notes = (
        f"one connection, closed loop: {rate:,.0f} req/s, latency p50 {p50:.2f} ms; server "
        "CPU seconds / answers (the server process only); ratio = bare / value"
    )
    if bare is None:
        return figure("single", f"{name}: server CPU per request", db, cost, "ms", notes=notes)
    b = median([_single(r, "serial")["server_cpu_ms_per_request"] for r in bare])
    return figure(
        "single",
        f"{name}: server CPU per request",
        db,
        cost,
        "ms",
        baseline=("bare FastAPI endpoint", b, "ms"),
        ratio=b / median(cost),
        notes=notes,
    )


def figures(results: list[Run], size: dict[str, Any], rate: float) -> list[dict[str, Any]]:
    """Every figure of the runs, in the order of the issue's list."""
    bare = _bare(results)
    for r in results:
        r["single"]["saturation"]["connections"] = size["connections"]
    dbs = list(dict.fromkeys(r["database"] for r in results if r["database"]))
    out: list[dict[str, Any]] = []
    for db in dbs:
        out += batch_figures([r for r in results if r["database"] == db], db, size)
    for db in dbs:
        out += single_figures([r for r in results if r["database"] == db], bare, db, rate)
    return out + single_figures(bare, bare, None, rate)
