"""observability/metrics.py exports exactly what deploy/monitoring/metrics.yml declares, the contract the
alert rules and the dashboard are written against: same names, types and labels, no more, no less."""

from pathlib import Path

import yaml
from prometheus_client import Counter, Gauge, Histogram

from observability import metrics

METRICS_YML = Path(__file__).resolve().parents[2] / "deploy" / "monitoring" / "metrics.yml"
TYPES = {Counter: "counter", Gauge: "gauge", Histogram: "histogram"}


def exported() -> dict:
    """{scraped name: (type, labels)} for every metric object in observability/metrics.py."""
    found = {}
    for value in vars(metrics).values():
        kind = next((name for cls, name in TYPES.items() if isinstance(value, cls)), None)
        if kind is None:
            continue
        name = value._name + "_total" if kind == "counter" else value._name
        found[name] = (kind, list(value._labelnames))
    return found


def declared() -> dict:
    return {
        metric["name"]: (metric["type"], metric["labels"])
        for metric in yaml.safe_load(METRICS_YML.read_text())["metrics"]
    }


def test_the_metrics_module_exports_exactly_the_declared_metrics_with_their_types_and_labels():
    assert exported() == declared()


def test_histograms_have_the_buckets_the_alert_thresholds_sit_on():
    by_name = {value._name: value for value in vars(metrics).values() if isinstance(value, Histogram)}
    for metric in yaml.safe_load(METRICS_YML.read_text())["metrics"]:
        required = metric.get("required_buckets")
        if required:
            assert set(required) <= set(by_name[metric["name"]]._upper_bounds), metric["name"]
