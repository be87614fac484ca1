"""Where the web pods' custom metrics are counted, kept out of the services' own logic.

The metric objects live in observability/metrics.py; this module holds the bounded label values they
are counted with and creates every such series at zero when a worker starts, so a rule comparing
today with last week never meets "no data" for a label nobody has used yet.

It sits below every app (services count through it), so it imports none: the label values that
belong to an app, such as the answerable question kinds, are handed to create_declared_series.
"""

import json
from collections.abc import Iterable
from functools import wraps

from django.conf import settings

from observability import browser_metrics_config, metrics, signins

TRANSPORTS = ("ws", "http", "firebase")
JOIN_OUTCOMES = ("joined", "bad_code", "name_taken", "invalid", "rate_limited")
WEBSOCKET_ROLES = ("teacher", "student", "projector")
WEBSOCKET_OUTCOMES = ("accepted", "refused", "failed")

# A refused join's error code → its outcome; any other refusal is a malformed request.
_JOIN_OUTCOME_BY_CODE = {
    "session_not_found": "bad_code",
    "name_taken": "name_taken",
    "rate_limited": "rate_limited",
}


def answer_handled(submitted, *, transport: str, seconds: float) -> None:
    """An answer went through submit_response: counted when stored, timed either way (a replay
    costs a client the same wait)."""
    if not submitted.duplicate:
        metrics.ANSWERS.labels(transport, submitted.kind).inc()
    metrics.ANSWER_DURATION.labels(transport).observe(seconds)


def join_outcome(response) -> str:
    if response.status_code == 201:
        return "joined"
    code = None
    if response.get("Content-Type", "").startswith("application/json"):
        try:
            code = json.loads(response.content).get("error", {}).get("code")
        except (ValueError, AttributeError):
            code = None
    return _JOIN_OUTCOME_BY_CODE.get(code, "invalid")


def count_join_outcome(run):
    """Wraps the join endpoint's ninja operation (use with ninja's decorate_view): request-body
    validation happens inside the operation, so malformed joins are counted too."""

    @wraps(run)
    def counted(request, *args, **kwargs):
        response = run(request, *args, **kwargs)
        metrics.JOIN_ATTEMPTS.labels(join_outcome(response)).inc()
        return response

    return counted


def count_rate_limited(scope: str) -> None:
    metrics.RATE_LIMITED.labels(scope).inc()


def create_declared_series(*, answer_kinds: Iterable[str]) -> None:
    """Every series the web pods count, at zero; `answer_kinds` are the question kinds that take
    an answer (sessions.kinds)."""
    answer_kinds = tuple(answer_kinds)
    for transport in TRANSPORTS:
        metrics.ANSWER_DURATION.labels(transport)
        for kind in answer_kinds:
            metrics.ANSWERS.labels(transport, kind)
    for outcome in JOIN_OUTCOMES:
        metrics.JOIN_ATTEMPTS.labels(outcome)
    for scope in settings.RATE_LIMITS:
        metrics.RATE_LIMITED.labels(scope)
    for role in WEBSOCKET_ROLES:
        metrics.WEBSOCKET_CONNECTIONS.labels(role)
        for outcome in WEBSOCKET_OUTCOMES:
            metrics.WEBSOCKET_CONNECTS.labels(role, outcome)
    browser_metrics_config.create_declared_series()
    signins.create_declared_series()
