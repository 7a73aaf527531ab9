"""The truth file validates against docs/truth.schema.json and agrees with the events."""

from __future__ import annotations

import copy
import json
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from nexus_crm.simulate.truth import read_truth, write_truth
from tests.simulate.analysis import Sample, ts

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "truth.schema.json"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    """A strict validator of the documented schema (formats checked)."""
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    return jsonschema.Draft202012Validator(schema, format_checker=checker)


def errors(validator: jsonschema.Draft202012Validator, doc: Any) -> list[str]:
    return [e.message for e in validator.iter_errors(doc)]


def test_the_truth_file_validates_after_a_round_trip(
    sample: Sample, validator: jsonschema.Draft202012Validator, tmp_path: Path
) -> None:
    path = tmp_path / "out" / "truth.json"
    write_truth(path, sample.truth)
    loaded = read_truth(path)
    assert loaded == json.loads(json.dumps(sample.truth))
    assert errors(validator, loaded) == []


@pytest.mark.parametrize(
    ("persona", "field", "value"),
    [
        ("churn", "cancelled_at", None),
        ("churn", "final_status", "active"),
        ("steady", "anomaly_days", [{"date": "2026-03-01", "factor": 5.0, "kind": "spike"}]),
        ("spiky", "anomaly_days", [{"date": "2026-03-01", "factor": 2.0, "kind": "spike"}]),
        ("upgrade_worthy", "upgrade_worthy_from", None),
        ("dormant", "dormant_since", "yesterday"),
        ("steady", "subscribed_at", "2026-03-01 10:00"),
    ],
)
def test_the_schema_refuses_an_inconsistent_customer(
    sample: Sample,
    validator: jsonschema.Draft202012Validator,
    persona: str,
    field: str,
    value: Any,
) -> None:
    doc = copy.deepcopy(sample.truth)
    customer = next(c for c in doc["customers"] if c["persona"] == persona)
    customer[field] = value
    assert errors(validator, doc)


def test_totals_and_counts_agree_with_the_events(sample: Sample) -> None:
    truth = sample.truth
    per_user = Counter(e["user_id"] for e in sample.events)
    assert truth["totals"]["events"] == len(sample.events) == sum(per_user.values())
    assert {c["user_id"]: c["events"] for c in truth["customers"] if c["events"]} == per_user
    assert truth["totals"]["personas"] == Counter(c["persona"] for c in truth["customers"])
    sent = sum(len(d.subscriptions) for d in sample.days)
    assert truth["totals"]["subscription_updates"] == sent
    assert sent == sum(len(c["subscription_events"]) for c in truth["customers"])
    for c in truth["customers"]:
        mine = sample.by_user.get(c["user_id"], [])
        if mine:
            assert c["first_event_at"] == min(e["timestamp"] for e in mine)
            assert c["last_event_at"] == max(e["timestamp"] for e in mine)


def test_window_and_parameters_describe_the_run(sample: Sample) -> None:
    window, params = sample.truth["window"], sample.truth["parameters"]
    assert ts(window["end"]) == sample.end
    assert window["first_day"] == params["first_day"] == sample.days[0].date.isoformat()
    assert window["last_day"] == sample.days[-1].date.isoformat()
    assert window["days"] == len(sample.days) == params["days"]
    assert (params["seed"], params["customers"], window["timezone"]) == (7, 200, "UTC")
