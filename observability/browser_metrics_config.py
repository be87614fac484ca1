"""The one list of what browsers may report to POST /api/browser-metrics.

A report names its app and carries items {"name", "labels", "value"}. Only the names below are
accepted, each with exactly its declared labels (one with a default may be left out) and only the
listed values for them; anything else is refused and counted
(peardeck_browser_metrics_rejected_total{reason}). Adding a metric or a label value here (and its
declaration in observability/metrics.py and deploy/monitoring/metrics.yml) is the whole change a
new client measurement needs.

A Python module rather than YAML: it names the metric objects themselves, so a typo fails at import
rather than at the first report, and it needs no YAML parser at run time.
"""

import itertools
from dataclasses import dataclass, field

from observability import metrics

APPS = ("teacher", "student", "projector")

# A counter item is a count of events since the browser's last report.
COUNTER_MAX = 100
# A seconds item is one raw observation; longer than 10 minutes is a broken clock, not a page load.
SECONDS_MAX = 600.0
MAX_ITEMS = 50
MAX_BODY_BYTES = 16 * 1024

COUNTER = "counter"
SECONDS = "seconds"


@dataclass(frozen=True)
class BrowserMetric:
    metric: object  # a prometheus_client Counter or Histogram from observability/metrics.py
    type: str  # COUNTER (value: integer count 1..COUNTER_MAX) or SECONDS (0..SECONDS_MAX)
    # Label name → accepted values, as the client sends them (the `app` label comes from the report).
    labels: dict
    per_app: bool = True
    # Labels a client may leave out, and the value they then take: a label added to a metric
    # does not make the reports of pages loaded before the deploy invalid.
    defaults: dict = field(default_factory=dict)


ACCEPTED = {
    "app_load": BrowserMetric(metrics.BROWSER_APP_LOADS, COUNTER, {"outcome": ("success", "failure")}),
    "time_to_interactive": BrowserMetric(metrics.BROWSER_TIME_TO_INTERACTIVE, SECONDS, {}),
    "client_error": BrowserMetric(
        metrics.BROWSER_CLIENT_ERRORS,
        COUNTER,
        {"kind": ("js_error", "unhandled_rejection", "resource_error", "api_error")},
    ),
    "firebase_response": BrowserMetric(metrics.BROWSER_FIREBASE_RESPONSE, SECONDS, {}),
    "websocket_darklaunch": BrowserMetric(
        metrics.BROWSER_WEBSOCKET_DARKLAUNCH,
        COUNTER,
        {"outcome": ("connected", "failed", "timeout")},
        per_app=False,
    ),
    # One item per attempt a page makes to bring up its live link (the WebSocket, or for Firebase-mode
    # students the Realtime Database through the Firebase JS SDK): `connected` when the link came up
    # (WebSocket hello; Firebase signed in and first value arrived), `failed` when it closed or
    # errored first (a refused Firebase sign-in included), `timeout` when nothing happened within
    # the client's connect timeout. Every retry is an attempt of its own. `firebase_transport` says
    # which transport the Firebase SDK ended on for a connected Firebase link (`websocket`, or
    # `long_polling` when WebSockets are stopped on the way); `none` for anything else.
    "transport_connect": BrowserMetric(
        metrics.BROWSER_TRANSPORT_CONNECTS,
        COUNTER,
        {
            "transport": ("websocket", "firebase"),
            "outcome": ("connected", "failed", "timeout"),
            "firebase_transport": ("none", "websocket", "long_polling"),
        },
        defaults={"firebase_transport": "none"},
    ),
}

# Why a report or an item was refused: the only values of the `reason` label.
REJECTION_REASONS = (
    "too_large",  # body over MAX_BODY_BYTES (413)
    "rate_limited",  # the client sent too many reports (429)
    "malformed",  # not JSON, or not the report's shape
    "too_deep",  # JSON nested deeper than domain.untrusted.MAX_DEPTH (400)
    "unknown_app",
    "too_many_items",  # more than MAX_ITEMS items in one report
    "unknown_metric",
    "unknown_label",  # a label name not declared for the metric, or a declared one missing
    "unknown_label_value",
    "wrong_type",  # not a number, or a fractional count
    "not_finite",  # NaN, infinity or beyond the double range (400 when the JSON itself holds it)
    "out_of_range",  # a count outside 1..COUNTER_MAX, seconds outside 0..SECONDS_MAX
)


def create_declared_series() -> None:
    """Every accepted (metric, label values) combination, and every rejection reason, at zero."""
    for declared in ACCEPTED.values():
        names = list(declared.labels)
        for values in itertools.product(*(declared.labels[name] for name in names)):
            labels = dict(zip(names, values, strict=True))
            if declared.per_app:
                for app in APPS:
                    declared.metric.labels(app=app, **labels)
            else:
                declared.metric.labels(**labels)
    for reason in REJECTION_REASONS:
        metrics.BROWSER_METRICS_REJECTED.labels(reason)
