"""POST /api/browser-metrics: only declared metrics and label values, validated numbers, capped
size and rate; every refusal counted by reason; no report can add a series."""

import json
import random
import string

import pytest
from prometheus_client import REGISTRY, generate_latest

from observability import browser_metrics_config
from observability.browser_metrics_config import ACCEPTED, APPS, MAX_BODY_BYTES, MAX_ITEMS, REJECTION_REASONS
from tests.conftest import Api, error_of

URL = "/api/browser-metrics"


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def browser_samples() -> dict:
    """Every peardeck_browser_* sample except the refusals, to show a refused report changed nothing."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in REGISTRY.collect()
        if family.name.startswith("peardeck_browser_") and family.name != "peardeck_browser_metrics_rejected"
        for s in family.samples
        if not s.name.endswith("_created")
    }


def series_count() -> int:
    return sum(
        1
        for line in generate_latest(REGISTRY).decode().splitlines()
        if line.startswith("peardeck_") and not line.startswith("#")
    )


def rejected(reason: str) -> float:
    return sample("peardeck_browser_metrics_rejected_total", reason=reason)


@pytest.fixture(autouse=True)
def _declared(db):
    browser_metrics_config.create_declared_series()


def test_a_valid_report_counts_loads_errors_and_darklaunch_and_observes_timings():
    loads = sample("peardeck_browser_app_loads_total", app="student", outcome="success")
    errors = sample("peardeck_browser_client_errors_total", app="student", kind="js_error")
    darklaunch = sample("peardeck_browser_websocket_darklaunch_total", outcome="failed")
    tti = sample("peardeck_browser_time_to_interactive_seconds_count", app="student")
    tti_fast = sample("peardeck_browser_time_to_interactive_seconds_bucket", app="student", le="2.0")
    firebase = sample("peardeck_browser_firebase_response_seconds_sum", app="student")
    response = Api().post(
        URL,
        {
            "app": "student",
            "metrics": [
                {"name": "app_load", "labels": {"outcome": "success"}, "value": 3},
                {"name": "client_error", "labels": {"kind": "js_error"}, "value": 2},
                {"name": "websocket_darklaunch", "labels": {"outcome": "failed"}, "value": 1},
                {"name": "time_to_interactive", "value": 1.5},
                {"name": "time_to_interactive", "labels": {}, "value": 7},
                {"name": "firebase_response", "value": 0.2},
            ],
        },
    )
    assert response.status_code == 202, response.content
    assert response.json() == {"accepted": 6}
    assert sample("peardeck_browser_app_loads_total", app="student", outcome="success") == loads + 3
    assert sample("peardeck_browser_client_errors_total", app="student", kind="js_error") == errors + 2
    assert sample("peardeck_browser_websocket_darklaunch_total", outcome="failed") == darklaunch + 1
    assert sample("peardeck_browser_time_to_interactive_seconds_count", app="student") == tti + 2
    assert (
        sample("peardeck_browser_time_to_interactive_seconds_bucket", app="student", le="2.0") == tti_fast + 1
    )
    assert sample("peardeck_browser_firebase_response_seconds_sum", app="student") == pytest.approx(
        firebase + 0.2
    )


def _connect(transport="websocket", outcome="failed", value=1, extra=None):
    labels = {"transport": transport, "outcome": outcome, **(extra or {})}
    return {"name": "transport_connect", "labels": labels, "value": value}


def test_a_transport_connect_is_counted_for_the_reporting_app_by_transport_and_outcome():
    def connects(app, transport, outcome, via):
        return sample(
            "peardeck_browser_transport_connects_total",
            app=app,
            transport=transport,
            outcome=outcome,
            firebase_transport=via,
        )

    combos = [
        (app, transport, outcome, via)
        for app in APPS
        for transport in ("websocket", "firebase")
        for outcome in ("connected", "failed", "timeout")
        for via in ("none", "websocket", "long_polling")
    ]
    before = {combo: connects(*combo) for combo in combos}
    response = Api().post(
        URL,
        {
            "app": "student",
            "metrics": [
                _connect("firebase", "connected", 1, {"firebase_transport": "long_polling"}),
                _connect("firebase", "connected", 4, {"firebase_transport": "websocket"}),
                _connect("firebase", "failed", 5, {"firebase_transport": "none"}),
                _connect("websocket", "timeout", 2),
                {
                    "name": "transport_connect",
                    "labels": {"outcome": "failed", "transport": "websocket"},
                    "value": 3,
                },
            ],
        },
    )
    assert response.status_code == 202, response.content
    assert response.json() == {"accepted": 5}
    changed = {
        combo: connects(*combo) - before[combo] for combo in combos if connects(*combo) != before[combo]
    }
    assert changed == {
        ("student", "firebase", "connected", "long_polling"): 1,
        ("student", "firebase", "connected", "websocket"): 4,
        ("student", "firebase", "failed", "none"): 5,
        # Without firebase_transport (every WebSocket report; pages from before the label): none.
        ("student", "websocket", "timeout", "none"): 2,
        ("student", "websocket", "failed", "none"): 3,
    }


def _item(**overrides):
    return {"name": "app_load", "labels": {"outcome": "success"}, "value": 1, **overrides}


REFUSALS = [
    # (what the browser sent, the reason counted, the status, the field named)
    ("not json", "malformed", 400, "body"),
    ([1, 2], "malformed", 422, "body"),
    ({"app": "student", "metrics": {"name": "app_load"}}, "malformed", 422, "metrics"),
    ({"app": "student", "metrics": ["app_load"]}, "malformed", 422, "metrics.0"),
    ({"app": "student", "metrics": [_item(labels=["success"])]}, "malformed", 422, "metrics.0.labels"),
    ({"app": "admin", "metrics": [_item()]}, "unknown_app", 422, "app"),
    ({"metrics": [_item()]}, "unknown_app", 422, "app"),
    ({"app": "student", "metrics": [_item()] * (MAX_ITEMS + 1)}, "too_many_items", 422, "metrics"),
    ({"app": "student", "metrics": [_item(name="cpu_temperature")]}, "unknown_metric", 422, "metrics.0.name"),
    ({"app": "student", "metrics": [_item(name=["app_load"])]}, "unknown_metric", 422, "metrics.0.name"),
    ({"app": "student", "metrics": [_item(labels={})]}, "unknown_label", 422, "metrics.0.labels"),
    (
        {"app": "student", "metrics": [_item(labels={"outcome": "success", "session": "42"})]},
        "unknown_label",
        422,
        "metrics.0.labels",
    ),
    (
        {"app": "student", "metrics": [_item(labels={"outcome": "meh"})]},
        "unknown_label_value",
        422,
        "metrics.0.labels.outcome",
    ),
    (
        {"app": "student", "metrics": [_connect(transport="polling")]},
        "unknown_label_value",
        422,
        "metrics.0.labels.transport",
    ),
    (
        {"app": "student", "metrics": [_connect(outcome="closed")]},
        "unknown_label_value",
        422,
        "metrics.0.labels.outcome",
    ),
    (
        {"app": "teacher", "metrics": [_connect(), _connect(transport="WebSocket")]},
        "unknown_label_value",
        422,
        "metrics.1.labels.transport",
    ),
    (
        {"app": "student", "metrics": [{"name": "transport_connect", "labels": {"outcome": "timeout"}}]},
        "unknown_label",
        422,
        "metrics.0.labels",
    ),
    (
        {"app": "student", "metrics": [_connect(extra={"role": "student"})]},
        "unknown_label",
        422,
        "metrics.0.labels",
    ),
    (
        {
            "app": "student",
            "metrics": [_connect("firebase", "connected", extra={"firebase_transport": "xhr"})],
        },
        "unknown_label_value",
        422,
        "metrics.0.labels.firebase_transport",
    ),
    ({"app": "student", "metrics": [_connect(value=0)]}, "out_of_range", 422, "metrics.0.value"),
    ({"app": "student", "metrics": [_item(value="1")]}, "wrong_type", 422, "metrics.0.value"),
    ({"app": "student", "metrics": [_item(value=True)]}, "wrong_type", 422, "metrics.0.value"),
    ({"app": "student", "metrics": [_item(value=None)]}, "wrong_type", 422, "metrics.0.value"),
    ({"app": "student", "metrics": [_item(value=1.5)]}, "wrong_type", 422, "metrics.0.value"),
    ({"app": "student", "metrics": [_item(value=0)]}, "out_of_range", 422, "metrics.0.value"),
    ({"app": "student", "metrics": [_item(value=-1)]}, "out_of_range", 422, "metrics.0.value"),
    ({"app": "student", "metrics": [_item(value=101)]}, "out_of_range", 422, "metrics.0.value"),
    # Numbers outside the double range are not read at all (domain.untrusted): the body is at fault.
    ({"app": "student", "metrics": [_item(value=10**400)]}, "not_finite", 400, "body"),
    (
        {"app": "student", "metrics": [{"name": "time_to_interactive", "value": -0.1}]},
        "out_of_range",
        422,
        "metrics.0.value",
    ),
    (
        {"app": "student", "metrics": [{"name": "time_to_interactive", "value": 601}]},
        "out_of_range",
        422,
        "metrics.0.value",
    ),
    (
        '{"app": "student", "metrics": [{"name": "time_to_interactive", "value": NaN}]}',
        "not_finite",
        400,
        "body",
    ),
    (
        '{"app": "student", "metrics": [{"name": "firebase_response", "value": Infinity}]}',
        "not_finite",
        400,
        "body",
    ),
    (
        '{"app": "student", "metrics": [{"name": "firebase_response", "value": 1e999}]}',
        "not_finite",
        400,
        "body",
    ),
]


@pytest.mark.parametrize(("body", "reason", "status", "field"), REFUSALS)
def test_a_bad_report_is_refused_naming_the_field_counted_by_reason_and_changes_nothing(
    body, reason, status, field
):
    before, refused_before = browser_samples(), rejected(reason)
    raw = body if isinstance(body, str) else json.dumps(body)
    response = Api().post(URL, raw=raw)
    assert response.status_code == status, response.content
    assert error_of(response)["field"] == field
    assert rejected(reason) == refused_before + 1
    assert browser_samples() == before


def test_one_bad_item_refuses_the_whole_report_and_counts_each_bad_item():
    before = browser_samples()
    unknown_metric, out_of_range = rejected("unknown_metric"), rejected("out_of_range")
    response = Api().post(
        URL,
        {
            "app": "teacher",
            "metrics": [_item(), _item(name="nope"), _item(value=500), _item(name="nope2")],
        },
    )
    assert response.status_code == 422
    error = error_of(response)
    assert error["field"] == "metrics.1.name"
    assert [f["field"] for f in error["fields"]] == ["metrics.1.name", "metrics.2.value", "metrics.3.name"]
    assert rejected("unknown_metric") == unknown_metric + 2
    assert rejected("out_of_range") == out_of_range + 1
    assert browser_samples() == before


def test_a_body_over_the_cap_is_refused_with_413():
    before, refused_before = browser_samples(), rejected("too_large")
    padding = "x" * MAX_BODY_BYTES
    response = Api().post(URL, raw=json.dumps({"app": "student", "metrics": [_item()], "pad": padding}))
    assert response.status_code == 413
    assert error_of(response)["field"] == "body"
    assert rejected("too_large") == refused_before + 1
    assert browser_samples() == before


def test_a_flooding_client_gets_429_counted_as_refused(settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "browser_metrics": (3, 60)}
    refused_before = rejected("rate_limited")
    limited_before = sample("peardeck_rate_limited_total", scope="browser_metrics")
    api = Api()
    statuses = [api.post(URL, {"app": "projector", "metrics": [_item()]}).status_code for _ in range(5)]
    assert statuses == [202, 202, 202, 429, 429]
    assert rejected("rate_limited") == refused_before + 2
    assert sample("peardeck_rate_limited_total", scope="browser_metrics") == limited_before + 2


def test_a_flood_of_random_names_and_label_values_adds_no_series():
    series = series_count()
    rng = random.Random(7)

    def word():
        return "".join(rng.choices(string.ascii_lowercase + string.digits, k=12))

    api = Api()
    for _ in range(200):
        name = rng.choice([*ACCEPTED, word()])
        body = {
            "app": rng.choice([*APPS, word()]),
            "metrics": [
                {"name": name, "labels": {rng.choice(["outcome", "kind", word()]): word()}, "value": 1}
            ],
        }
        assert api.post(URL, body).status_code in (422, 429)
    assert series_count() == series


def test_every_declared_series_exists_at_zero_from_the_start():
    for app in APPS:
        for outcome in ("success", "failure"):
            assert (
                REGISTRY.get_sample_value(
                    "peardeck_browser_app_loads_total", {"app": app, "outcome": outcome}
                )
                is not None
            )
        for kind in ACCEPTED["client_error"].labels["kind"]:
            assert (
                REGISTRY.get_sample_value("peardeck_browser_client_errors_total", {"app": app, "kind": kind})
                is not None
            )
        assert (
            REGISTRY.get_sample_value("peardeck_browser_time_to_interactive_seconds_count", {"app": app})
            is not None
        )
        for transport in ("websocket", "firebase"):
            for outcome in ("connected", "failed", "timeout"):
                for via in ("none", "websocket", "long_polling"):
                    labels = {
                        "app": app,
                        "transport": transport,
                        "outcome": outcome,
                        "firebase_transport": via,
                    }
                    assert (
                        REGISTRY.get_sample_value("peardeck_browser_transport_connects_total", labels)
                        is not None
                    )
    for outcome in ("connected", "failed", "timeout"):
        assert (
            REGISTRY.get_sample_value("peardeck_browser_websocket_darklaunch_total", {"outcome": outcome})
            is not None
        )
    for reason in REJECTION_REASONS:
        assert (
            REGISTRY.get_sample_value("peardeck_browser_metrics_rejected_total", {"reason": reason})
            is not None
        )


def test_the_config_declares_exactly_each_metrics_labels():
    for name, declared in ACCEPTED.items():
        expected = {*declared.labels, "app"} if declared.per_app else set(declared.labels)
        assert set(declared.metric._labelnames) == expected, name
