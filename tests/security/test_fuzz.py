"""schemathesis against the app's own /openapi.json with an admin key, on both databases.

Every operation of the schema is fuzzed in-process (schemathesis' ASGI transport) with
positive and negative data, and the operations that take an id once more with real ids
(a seeded customer, alert and upsell sequence), so the fuzzer reaches past the 404. The
webhooks are signed after generation, as GENESIS would sign them, so their bodies reach
validation and storage instead of stopping at the signature check. Checks, on every case:
no 5xx, every status code documented, content type and body conform to the schema.
Not checked: that every schema-invalid request is refused (schemathesis' "negative data
rejection"), since pydantic's lax mode accepts a few harmless spellings the schema does not
list, e.g. a Unix time for a date-time query parameter.

Not in the schema and so not fuzzed here: the WebSocket (/agent-usage/ws) and the MCP
endpoint (/mcp), a mounted sub-application; both are walked by the authorization matrix
(tests/security/test_auth.py) and tested in tests/realtime and tests/mcp.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given
from schemathesis import APIOperation, Case, CheckFunction, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.errors import FailureGroup
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from nexus_crm.app import create_app
from nexus_crm.settings import Settings
from tests.support import event, signed

WEBHOOKS = frozenset({"/agent-usage/events", "/agent-usage/subscriptions"})
SHIPPED_TIERS = ("essential", "pro", "elite", "prime", "longevity")
EXAMPLES = {GenerationMode.POSITIVE: 40, GenerationMode.NEGATIVE: 20}
KNOWN_ID_EXAMPLES = 25
MIN_CASES = 1000
# Path parameters that once answered 500 or missed their row (issue 15): slashes,
# percent-escapes, dot segments, and ids of a stored customer whose id holds a slash.
TRICKY_IDS = ("a/b", "fuzz/customer", "/", "%2F", "%25", "%", "a%2Fb", ".", "..", "ü/ß")
TRICKY_EXAMPLES = 3
EDGES = ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00")
AUDIT_BOUNDS = ((EDGES[0], EDGES[1]), (EDGES[0], None), (None, EDGES[1]), (EDGES[1], EDGES[0]))
CHECKS: list[CheckFunction] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
BASE_URL = f"http://{asgi.HOST}"
Operation = APIOperation[Any, Any, Any, Any]


@dataclass
class Fuzz:
    """One fuzzing run: the client, the admin key, and what it saw."""

    client: requests.Session
    auth: dict[str, str]
    seen: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)


def _plausible(item: Any) -> None:
    """Shipped tiers and integral counts in a generated event or subscription (positive mode).

    The schema cannot list the tiers (they are rows, editable by PUT /tiers), so without
    this almost every generated webhook body stops at "unknown tier".
    """
    if not isinstance(item, dict):
        return
    for key in ("subscription_tier", "tier"):
        if isinstance(item.get(key), str):
            item[key] = SHIPPED_TIERS[len(item[key]) % len(SHIPPED_TIERS)]
    for key in ("tokens_used", "response_time_ms"):
        if isinstance(item.get(key), float) and item[key].is_integer():
            item[key] = int(item[key])


def _signed_body(kwargs: dict[str, Any], positive: bool) -> None:
    """Replace the generated body with its JSON bytes and Standard Webhooks headers."""
    payload = kwargs.pop("json", None)
    if positive:
        items = payload.get("events") if isinstance(payload, dict) else None
        for item in items if isinstance(items, list) else [payload]:
            _plausible(item)
    raw = kwargs.pop("data", None)
    body = json.dumps(payload).encode() if payload is not None else raw or b""
    body, headers = signed(body if isinstance(body, bytes) else str(body).encode())
    kwargs["data"] = body
    kwargs["headers"] = {**kwargs.get("headers", {}), **headers}


def _send(fuzz: Fuzz, case: Case[Any], mode: GenerationMode) -> requests.Response:
    kwargs: dict[str, Any] = case.as_transport_kwargs(base_url=BASE_URL)
    if case.path in WEBHOOKS:
        _signed_body(kwargs, positive=mode is GenerationMode.POSITIVE)
    else:
        kwargs["headers"] = {**kwargs.get("headers", {}), **fuzz.auth}
    return fuzz.client.request(**kwargs)


def _fuzz(
    fuzz: Fuzz,
    operation: Operation,
    mode: GenerationMode,
    examples: int,
    path_parameters: dict[str, Any] | None = None,
    query: dict[str, Any] | None = None,
) -> None:
    # The admin key is fixed, not generated: a mutated Authorization header would only test
    # authentication (the authorization matrix does that), and the key would be replaced anyway.
    headers = None if operation.path in WEBHOOKS else fuzz.auth
    strategy = operation.as_strategy(
        generation_mode=mode, path_parameters=path_parameters, headers=headers, query=query
    )

    @given(strategy)
    @hypothesis.settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Case[Any]) -> None:
        response = _send(fuzz, case, mode)
        fuzz.seen[f"{case.method} {case.path} {mode.value} {response.status_code}"] += 1
        case.validate_response(response, checks=CHECKS, headers=fuzz.auth)

    label = (
        f"{operation.method.upper()} {operation.path} ({mode.value}, {path_parameters}, {query})"
    )
    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        # An operation without parameters or body (GET /healthz) has nothing to make invalid.
        if mode is not GenerationMode.NEGATIVE:
            fuzz.failures.append(f"{label}: no case could be generated")
    except (Exception, FailureGroup) as exc:
        fuzz.failures.append(f"{label}: {exc}")


def _seed(fuzz: Fuzz) -> dict[str, str]:
    """A customer over its limit (so an alert) and an upsell sequence; their ids."""
    user = "fuzz_customer"
    subscription = {
        "user_id": user,
        "tier": "essential",
        "status": "active",
        "email": "fuzz@example.com",
        "name": "Fuzz",
    }
    usage = {"events": [event(user_id=user, subscription_tier="essential", tokens_used=199_000)]}
    slashed = {"events": [event(user_id="fuzz/customer")]}  # reached through TRICKY_IDS
    for path, payload in (("subscriptions", subscription), ("events", usage), ("events", slashed)):
        body, headers = signed(payload)
        resp = fuzz.client.post(f"{BASE_URL}/agent-usage/{path}", data=body, headers=headers)
        assert resp.status_code == 200, resp.text
    alerts = fuzz.client.get(
        f"{BASE_URL}/agent-usage/alerts", params={"user_id": user}, headers=fuzz.auth
    ).json()["alerts"]
    sequence = fuzz.client.post(
        f"{BASE_URL}/agent-usage/upsell-sequences",
        headers=fuzz.auth,
        json={"user_id": user, "recommended_tier": "pro", "reason": "fuzzing"},
    )
    assert alerts, "the seeded customer over its limit raised no alert"
    assert sequence.status_code == 201, sequence.text
    return {
        "user_id": user,
        "alert_id": alerts[0]["id"],
        "sequence_id": sequence.json()["sequence"]["id"],
    }


def _run_all(fuzz: Fuzz, schema: Any, known: dict[str, str]) -> None:
    for result in schema.get_all_operations():
        operation: Operation = result.ok()
        for mode, examples in EXAMPLES.items():
            _fuzz(fuzz, operation, mode, examples)
        names = {p.name for p in operation.path_parameters}
        if names and names <= set(known):
            ids = {name: known[name] for name in names}
            _fuzz(fuzz, operation, GenerationMode.POSITIVE, KNOWN_ID_EXAMPLES, ids)
        for value in TRICKY_IDS if names else ():
            tricky = dict.fromkeys(names, value)
            _fuzz(fuzz, operation, GenerationMode.POSITIVE, TRICKY_EXAMPLES, tricky)
        if operation.path == "/agent-usage/audit":
            for since, until in AUDIT_BOUNDS:
                bounds = {k: v for k, v in (("since", since), ("until", until)) if v}
                _fuzz(fuzz, operation, GenerationMode.POSITIVE, TRICKY_EXAMPLES, query=bounds)


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    settings: Settings, admin_headers: dict[str, str]
) -> None:
    # No background workers: the fuzzer is the only writer, and no email leaves the test.
    quiet = settings.model_copy(
        update={"alert_evaluation_interval_seconds": 0, "upsell_worker_interval_seconds": 0}
    )
    app: Any = create_app(quiet)  # an ASGI callable, as schemathesis types it
    started = time.monotonic()
    try:
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        with asgi.get_client(app) as client:
            fuzz = Fuzz(client, admin_headers)
            _run_all(fuzz, schema, _seed(fuzz))
    finally:
        asgi.shutdown_lifespans()
    total, took = sum(fuzz.seen.values()), time.monotonic() - started
    print(f"\nschemathesis: {total} cases in {took:.1f} s")
    for line in sorted(fuzz.seen):
        print(f"  {fuzz.seen[line]:4d}  {line}")
    assert not fuzz.failures, "\n\n".join(fuzz.failures)
    assert total >= MIN_CASES
    for webhook in WEBHOOKS:  # the signing hook works: generated bodies were stored
        assert fuzz.seen[f"POST {webhook} positive 200"] > 0
