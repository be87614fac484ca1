"""POST /api/browser-metrics: browsers report their own measurements; the web pods aggregate them.

Body: {"app": "student", "metrics": [{"name": "app_load", "labels": {"outcome": "success"},
"value": 1}, {"name": "time_to_interactive", "value": 1.8}, ...]}. What may be reported is declared
in observability/browser_metrics_config.py. A report is taken whole or not at all: one bad item refuses
the report (422 naming the item's field) and nothing of it is counted, except the refusal itself,
in peardeck_browser_metrics_rejected_total{reason} once per bad item (or once per report when the
report itself is at fault). Label values only ever come from the declared lists, so no report,
however random, can add a series.
"""

import math
from typing import Annotated, Literal, Union

from django.core.exceptions import RequestDataTooBig
from ninja import Field, Router, Schema, Status
from pydantic import ConfigDict, create_model

from domain import untrusted
from domain.errors import DomainError
from observability import metrics
from observability.browser_metrics_config import (
    ACCEPTED,
    APPS,
    COUNTER,
    COUNTER_MAX,
    MAX_BODY_BYTES,
    MAX_ITEMS,
    SECONDS_MAX,
)
from web.contract import Document, body_read_by_hand, errors
from web.errors import ErrorResponse
from web.ratelimit import check_rate, client_address

router = Router(tags=["browser metrics"])

# --- the report's schema, for the OpenAPI document, generated from the declared list ----------

_Count = Annotated[int, Field(ge=1, le=COUNTER_MAX, description="events since the last report")]
_Seconds = Annotated[float, Field(ge=0, le=SECONDS_MAX, description="one observation, in seconds")]


def _item_model(name: str, declared) -> type:
    fields = {"name": (Literal[name], ...)}
    if declared.labels:
        labels = create_model(
            f"{_camel(name)}Labels",
            __config__=ConfigDict(extra="forbid"),
            **{label: (Literal[values], ...) for label, values in declared.labels.items()},
        )
        fields["labels"] = (labels, ...)
    fields["value"] = (_Count if declared.type == COUNTER else _Seconds, ...)
    return create_model(f"{_camel(name)}Item", __config__=ConfigDict(extra="forbid"), **fields)


def _camel(name: str) -> str:
    return "".join(part.title() for part in name.split("_"))


class BrowserMetricsReport(Schema):
    """One batch of a page's own measurements; taken whole or not at all."""

    model_config = ConfigDict(extra="forbid")

    app: Literal[APPS]
    metrics: list[
        Annotated[
            Union[tuple(_item_model(name, declared) for name, declared in ACCEPTED.items())],  # noqa: UP007
            Field(discriminator="name"),
        ]
    ] = Field(max_length=MAX_ITEMS)


class Accepted(Document):
    accepted: int = Field(description="items counted")


class Refused(Exception):
    def __init__(self, reason: str, field: str, message: str, *, status: int = 422):
        super().__init__(message)
        self.reason = reason
        self.field = field
        self.message = message
        self.status = status


def _reject(reason: str) -> None:
    metrics.BROWSER_METRICS_REJECTED.labels(reason).inc()


def _parse(body: bytes) -> dict:
    try:
        report = untrusted.loads(body)
    except untrusted.UnreadableJson as exc:
        raise Refused(exc.reason, "body", exc.message, status=400) from exc
    if not isinstance(report, dict):
        raise Refused("malformed", "body", "The body must be a JSON object.")
    if report.get("app") not in APPS:
        raise Refused("unknown_app", "app", f"app must be one of {', '.join(APPS)}.")
    items = report.get("metrics")
    if not isinstance(items, list):
        raise Refused("malformed", "metrics", "metrics must be a list.")
    if len(items) > MAX_ITEMS:
        raise Refused("too_many_items", "metrics", f"At most {MAX_ITEMS} items per report.")
    return report


def _number(value, *, counter: bool, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Refused("wrong_type", field, "value must be a number.")
    if isinstance(value, float) and not math.isfinite(value):
        raise Refused("not_finite", field, "value must be a finite number.")
    if counter:
        if isinstance(value, float) and not value.is_integer():
            raise Refused("wrong_type", field, "A count must be a whole number.")
        if not 0 < value <= COUNTER_MAX:
            raise Refused("out_of_range", field, f"A count must be 1 to {COUNTER_MAX}.")
    elif not 0 <= value <= SECONDS_MAX:
        raise Refused("out_of_range", field, f"Seconds must be 0 to {SECONDS_MAX:g}.")
    return value


def _item(app: str, index: int, item):
    """The (metric child, kind, value) one item asks for, or Refused."""
    where = f"metrics.{index}"
    if not isinstance(item, dict):
        raise Refused("malformed", where, "Each item must be an object.")
    declared = ACCEPTED.get(item.get("name")) if isinstance(item.get("name"), str) else None
    if declared is None:
        raise Refused("unknown_metric", f"{where}.name", "Not a metric this server accepts.")
    labels = item.get("labels", {})
    if not isinstance(labels, dict):
        raise Refused("malformed", f"{where}.labels", "labels must be an object.")
    labels = {**declared.defaults, **labels}
    if set(labels) != set(declared.labels):
        expected = ", ".join(declared.labels) or "none"
        raise Refused("unknown_label", f"{where}.labels", f"This metric takes the labels: {expected}.")
    for name, value in labels.items():
        if value not in declared.labels[name]:
            raise Refused(
                "unknown_label_value", f"{where}.labels.{name}", f"{name} must be one of the declared values."
            )
    value = _number(item.get("value"), counter=declared.type == COUNTER, field=f"{where}.value")
    if declared.per_app:
        labels = {"app": app, **labels}
    child = declared.metric.labels(**labels)
    return child, declared.type, value


@router.post(
    "/browser-metrics",
    auth=None,
    response={202: Accepted},
    operation_id="report_browser_metrics",
    summary="Report browser-side measurements (app loads, time to interactive, errors, Firebase latency)",
    description=f"At most {MAX_ITEMS} items and {MAX_BODY_BYTES} bytes per report.",
    openapi_extra={**body_read_by_hand(BrowserMetricsReport), **errors("rate_limited")},
)
def report_browser_metrics(request):
    declared_length = request.META.get("CONTENT_LENGTH") or "0"
    if (declared_length.isdigit() and int(declared_length) > MAX_BODY_BYTES) or _body_too_big(request):
        _reject("too_large")
        raise ErrorResponse(
            413, "payload_too_large", f"At most {MAX_BODY_BYTES} bytes per report.", field="body"
        )
    try:
        check_rate("browser_metrics", client_address(request))
    except DomainError:
        _reject("rate_limited")
        raise

    try:
        report = _parse(request.body)
    except Refused as refused:
        _reject(refused.reason)
        code = "malformed_json" if refused.status == 400 else "invalid"
        raise ErrorResponse(refused.status, code, refused.message, field=refused.field) from None

    accepted, refusals = [], []
    for index, item in enumerate(report["metrics"]):
        try:
            accepted.append(_item(report["app"], index, item))
        except Refused as refused:
            refusals.append(refused)
    if refusals:
        for refused in refusals:
            _reject(refused.reason)
        first = refusals[0]
        raise ErrorResponse(
            422,
            "invalid",
            f"{first.field}: {first.message}",
            field=first.field,
            fields=[{"field": r.field, "reason": r.reason, "message": r.message} for r in refusals],
        )
    for child, kind, value in accepted:
        if kind == COUNTER:
            child.inc(value)
        else:
            child.observe(value)
    return Status(202, {"accepted": len(accepted)})


def _body_too_big(request) -> bool:
    try:
        return len(request.body) > MAX_BODY_BYTES
    except RequestDataTooBig:
        return True
