"""The monitoring configuration under deploy/monitoring/, checked with the real promtool, amtool and
Alertmanager: rules load, their unit tests pass and pin every threshold from both sides, the
Alertmanager config routes, inhibits and renders as intended, and every metric name used by a rule or
the dashboard is one the application declares in deploy/monitoring/metrics.yml."""

import json
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "deploy" / "monitoring"
RULES = MONITORING / "rules" / "peardeck.rules.yml"
RULE_TESTS = MONITORING / "rules" / "peardeck.rules.test.yml"
WEEKLY_RULE_TESTS = MONITORING / "rules" / "peardeck.rules.weekly.test.yml"
ALL_RULE_TESTS = [RULE_TESTS, WEEKLY_RULE_TESTS]
ALERTMANAGER = MONITORING / "alertmanager.yml"
DASHBOARD = MONITORING / "grafana" / "peardeck-overview.json"
METRICS = MONITORING / "metrics.yml"
README = MONITORING / "README.md"

HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
PROMQL_KEYWORDS = {
    "and",
    "or",
    "unless",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "offset",
    "bool",
    "inf",
    "nan",
}


def tool(name):
    """The path of a required command-line tool; its absence fails the test (scripts/install-test-tools
    installs it)."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run scripts/install-test-tools (make setup-test)")
    return path


def run(*args, **kwargs):
    return subprocess.run(args, capture_output=True, text=True, timeout=240, check=False, **kwargs)


def load_rules():
    return yaml.safe_load(RULES.read_text())


def alert_rules():
    return [rule for group in load_rules()["groups"] for rule in group["rules"] if "alert" in rule]


def recording_rules():
    return [rule for group in load_rules()["groups"] for rule in group["rules"] if "record" in rule]


def rule_test_groups():
    return [group for path in ALL_RULE_TESTS for group in yaml.safe_load(path.read_text())["tests"]]


def metric_names(expr):
    """The metric names a PromQL expression selects. Strings, label matchers, ranges, grouping
    clauses and Grafana variables are removed first; what remains that is an identifier, not a
    function call and not a keyword, is a metric name."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"'(?:[^'\\]|\\.)*'", "''", text)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\$\w+", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)", text):
        name = match.group(1)
        if name.lower() in PROMQL_KEYWORDS or re.match(r"\s*\(", text[match.end() :]):
            continue
        names.add(name)
    return names


def declared_metrics():
    return yaml.safe_load(METRICS.read_text())


def known_name(name, declared, recorded):
    metrics = {metric["name"]: metric for metric in declared["metrics"]}
    standard = declared["standard"]
    histograms = {n for n, m in metrics.items() if m["type"] == "histogram"}
    histograms |= {n for n in standard["django_prometheus"] if not n.endswith("_total")}
    if name in recorded or name in standard["prometheus"]:
        return True
    if name in metrics and metrics[name]["type"] != "histogram":
        return True
    if name in standard["django_prometheus"] and name not in histograms:
        return True
    return any(name == base + suffix for base in histograms for suffix in HISTOGRAM_SUFFIXES)


def unknown_names(exprs):
    declared = declared_metrics()
    recorded = {rule["record"] for rule in recording_rules()}
    used = set().union(*(metric_names(expr) for expr in exprs))
    return sorted(name for name in used if not known_name(name, declared, recorded))


def dashboard_exprs():
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


# --- promtool -----------------------------------------------------------------------------------------


def test_the_rule_file_passes_promtool_check_rules():
    result = run(tool("promtool"), "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_rule_unit_tests_pass_under_promtool():
    result = run(tool("promtool"), "test", "rules", *map(str, ALL_RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


# --- the app-load alert on generated weeks -------------------------------------------------------------
#
# Five weeks of app loads, sampled every 10 minutes as Poisson counts around an hourly rate, in one
# promtool run evaluated every 10 minutes (as often as the alert's `for` needs): four weeks build the
# baseline, the fifth is judged. Each scenario is its own namespace, so they never mix.

WEEK_HOURS = 168
SCHOOL_PEAK = 3000  # loads an hour during lessons, the volume the 15% promise is made for
APP_LOAD_ALERTS = 'ALERTS{alertname=~"PeardeckAppLoadsBelow.*", alertstate="firing"'


def poisson(rng, mean):
    if mean > 30:
        return max(0, round(rng.gauss(mean, mean**0.5)))
    limit, count, product = pow(2.718281828459045, -mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def school_rate(local_hour_of_week, peak=SCHOOL_PEAK):
    """Loads an hour at a local hour of the week (Monday 00:00 is 0): lessons 8 to 15 on weekdays,
    homework in the evening, little at night and at weekends."""
    day, hour = divmod(local_hour_of_week % WEEK_HOURS, 24)
    if day >= 5:
        return 0.05 * peak if 8 <= hour <= 20 else 30
    by_hour = {6: 100, 7: 0.3 * peak, 15: 0.5 * peak, 16: 0.15 * peak, 17: 0.15 * peak, 18: 0.15 * peak}
    by_hour |= {19: 0.08 * peak, 20: 0.08 * peak, 21: 0.08 * peak, 22: 60, 23: 60}
    return peak if 8 <= hour <= 14 else by_hour.get(hour, 30)


def counter_values(rate_at_utc_hour, rng, weeks=5):
    """The counter's samples every 10 minutes for `weeks` weeks; rate_at_utc_hour(h) is loads an hour."""
    values, total = [0], 0
    for hour in range(weeks * WEEK_HOURS):
        for _ in range(6):
            total += poisson(rng, rate_at_utc_hour(hour) / 6)
            values.append(total)
    return " ".join(map(str, values))


def app_load_series(namespace, values):
    return {
        "series": f'peardeck_browser_app_loads_total{{namespace="{namespace}", job="peardeck-web", '
        f'instance="web-1", app="student", outcome="success"}}',
        "values": values,
    }


def generated_scenarios():
    import random

    series = []
    # Nine seeds: each hour of the week has its own rate between 60 and 500, the same every week.
    for seed in range(1, 10):
        rng = random.Random(seed)
        rates = [rng.uniform(60, 500) for _ in range(WEEK_HOURS)]
        series.append(
            app_load_series(f"noisy-{seed}", counter_values(lambda h, r=rates: r[h % WEEK_HOURS], rng))
        )
    # Three seeds of the same school week; UTC+1 throughout.
    for seed in range(1, 4):
        rng = random.Random(100 + seed)
        series.append(app_load_series(f"school-{seed}", counter_values(lambda h: school_rate(h + 1), rng)))
    # Daylight-saving changes at the start of the judged week: the school day moves an hour in UTC.
    for name, before, after in (("dst-spring", 1, 2), ("dst-autumn", 2, 1)):
        rng = random.Random(200 + before)
        shift = lambda h, b=before, a=after: school_rate(h + (b if h < 4 * WEEK_HOURS else a))  # noqa: E731
        series.append(app_load_series(name, counter_values(shift, rng)))
    # Nights of the judged week see no loads at all (as if nobody could load the app at night).
    rng = random.Random(300)
    night_outage = lambda h: 0 if h >= 4 * WEEK_HOURS and (h + 1) % 24 < 6 else school_rate(h + 1)  # noqa: E731
    series.append(app_load_series("nights", counter_values(night_outage, rng)))
    # A 15% drop from Wednesday 10:00 local time (09:00 UTC) of the judged week to the end of its day.
    drop_at = 4 * WEEK_HOURS + 2 * 24 + 9
    rng = random.Random(400)
    drop = lambda h: school_rate(h + 1) * (0.85 if drop_at <= h < drop_at + 10 else 1)  # noqa: E731
    series.append(app_load_series("drop", counter_values(drop, rng)))
    return series, drop_at


def test_the_app_load_alert_on_generated_weeks(tmp_path):
    series, drop_at = generated_scenarios()
    end = 5 * WEEK_HOURS
    firing_drop = (
        'ALERTS{alertname="PeardeckAppLoadsBelowUsual", alertstate="firing", app="student", '
        'job="peardeck-web", namespace="drop", severity="page"}'
    )
    quiet = f'count_over_time({APP_LOAD_ALERTS}, namespace!="drop"}}[{WEEK_HOURS}h])'
    group = {
        "name": "Generated weeks: noise, school weeks, daylight-saving changes and nights never page; "
        "a 15% school-hours drop pages within about an hour",
        "interval": "10m",
        "input_series": series,
        "promql_expr_test": [
            # Nothing in the judged week pages but the drop: not the noise of nine seeds of 60 to 500
            # loads an hour, not three seeds of school weeks, not the weeks after a DST change in
            # either direction, not nights without a single load.
            {"expr": quiet, "eval_time": f"{end}h", "exp_samples": []},
            # The drop: silent up to the moment it starts and for 40 minutes after; firing 70 minutes
            # after it began (the hour is under both bars after 50 to 60 minutes, then `for: 10m`;
            # at Prometheus' usual one-minute evaluation that is 50 to 60 minutes).
            {
                "expr": f'count_over_time({APP_LOAD_ALERTS}, namespace="drop"}}[{WEEK_HOURS}h])',
                "eval_time": f"{drop_at}h40m",
                "exp_samples": [],
            },
            {
                "expr": firing_drop,
                "eval_time": f"{drop_at + 1}h10m",
                "exp_samples": [{"labels": firing_drop, "value": 1}],
            },
        ],
    }
    tests = {
        "rule_files": [str(RULES)],
        "evaluation_interval": "10m",
        "group_eval_order": ["peardeck.recording", "peardeck.alerts"],
        "tests": [group],
    }
    (tmp_path / "generated.test.yml").write_text(yaml.safe_dump(tests, width=1 << 30))
    result = run(tool("promtool"), "test", "rules", str(tmp_path / "generated.test.yml"))
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]


def test_promtool_reports_a_broken_rule_file():
    """The check above can fail: a rule with a PromQL syntax error is refused."""
    broken = RULES.read_text().replace('up{job=~"peardeck-.*"} == 0', 'up{job=~"peardeck-.*"} == ', 1)
    assert broken != RULES.read_text()
    result = run(tool("promtool"), "check", "rules", "/dev/stdin", input=broken)
    assert result.returncode != 0


# For each alert: a change to its rule that makes its "fires at the threshold" case wrong (tighten) and
# one that makes its "silent just short of the threshold" case wrong (loosen). Running the unit tests
# against both proves that each alert's tests pin its threshold from both sides.
THRESHOLD_MUTATIONS = {
    "PeardeckAppLoadsBelowUsual": [
        ("< 0.9 * ", "< 0.89 * "),
        ("< 0.9 * ", "< 0.91 * "),
        ("- 3.5 * sqrt(", "- 3.6 * sqrt("),
        ("- 3.5 * sqrt(", "- 3.4 * sqrt("),
        ("increase1h_usual >= 300", "increase1h_usual >= 301"),
        ("increase1h_usual >= 300", "increase1h_usual >= 294"),
        ("weeks_known >= 3", "weeks_known >= 4"),
        ("weeks_known >= 3", "weeks_known >= 2"),
    ],
    "PeardeckAppLoadFailureRatioHigh": [
        ("failures:ratio_rate10m >= 0.05", "failures:ratio_rate10m >= 0.0501"),
        ("failures:ratio_rate10m >= 0.05", "failures:ratio_rate10m >= 0.049"),
        ("loads:rate10m * 600 >= 50", "loads:rate10m * 600 >= 40"),
    ],
    "PeardeckHTTP5xxRatioHigh": [
        ("5xx:ratio_rate5m >= 0.05", "5xx:ratio_rate5m >= 0.0501"),
        ("5xx:ratio_rate5m >= 0.05", "5xx:ratio_rate5m >= 0.049"),
        ("django_http_responses:rate5m >= 0.5", "django_http_responses:rate5m >= 0.03"),
    ],
    "PeardeckAnswerLatencyP99High": [
        ("p99_5m >= 1\n", "p99_5m >= 1.01\n"),
        ("p99_5m >= 1\n", "p99_5m >= 0.998\n"),
    ],
    "PeardeckAnswerLatencyP95High": [
        ("p95_5m >= 0.25\n", "p95_5m >= 0.26\n"),
        ("p95_5m >= 0.25\n", "p95_5m >= 0.249\n"),
    ],
    "PeardeckFirebaseProbeFailing": [
        ("failures:ratio_rate5m >= 0.2\n", "failures:ratio_rate5m >= 0.21\n"),
        ("failures:ratio_rate5m >= 0.2\n", "failures:ratio_rate5m >= 0.18\n"),
    ],
    "PeardeckFirebaseProbeSlow": [
        ("p95_10m >= 1\n", "p95_10m >= 1.01\n"),
        ("p95_10m >= 1\n", "p95_10m >= 0.998\n"),
    ],
    "PeardeckMirrorLagHigh": [
        ("(peardeck_firebase_mirror_lag_seconds) >= 30", "(peardeck_firebase_mirror_lag_seconds) >= 31"),
        ("(peardeck_firebase_mirror_lag_seconds) >= 30", "(peardeck_firebase_mirror_lag_seconds) >= 29"),
    ],
    "PeardeckOutboxBacklogHigh": [
        ("(peardeck_outbox_backlog) >= 5000", "(peardeck_outbox_backlog) >= 5001"),
        ("(peardeck_outbox_backlog) >= 5000", "(peardeck_outbox_backlog) >= 4999"),
    ],
    "PeardeckOutboxBacklogGrowing": [
        (
            "(peardeck_outbox_backlog) >= 500\n        for: 30m",
            "(peardeck_outbox_backlog) >= 500\n        for: 45m",
        ),
        ("(peardeck_outbox_backlog) >= 500\n", "(peardeck_outbox_backlog) >= 460\n"),
    ],
    "PeardeckWebSocketConnectFailureRatioHigh": [
        ("connect_failures:ratio_rate10m >= 0.1\n", "connect_failures:ratio_rate10m >= 0.11\n"),
        ("connect_failures:ratio_rate10m >= 0.1\n", "connect_failures:ratio_rate10m >= 0.098\n"),
        ("connects:rate10m * 600 >= 50", "connects:rate10m * 600 >= 40"),
    ],
    "PeardeckWebSocketDarkLaunchFailureRatioHigh": [
        ("darklaunch_failures:ratio_rate30m >= 0.25", "darklaunch_failures:ratio_rate30m >= 0.26"),
        ("darklaunch_failures:ratio_rate30m >= 0.25", "darklaunch_failures:ratio_rate30m >= 0.24"),
        ("darklaunch:rate30m * 1800 >= 100", "darklaunch:rate30m * 1800 >= 90"),
    ],
    "PeardeckBrowserWebSocketConnectFailureRatioHigh": [
        ('ratio_rate10m{transport="websocket"} >= 0.5', 'ratio_rate10m{transport="websocket"} >= 0.51'),
        ('ratio_rate10m{transport="websocket"} >= 0.5', 'ratio_rate10m{transport="websocket"} >= 0.49'),
        (
            'transport="websocket", outcome=~"failed|timeout"}[10m])) * 600 >= 500',
            'transport="websocket", outcome=~"failed|timeout"}[10m])) * 600 >= 480',
        ),
    ],
    "PeardeckBrowserFirebaseUnreachable": [
        ('ratio_rate10m{transport="firebase"} >= 0.5', 'ratio_rate10m{transport="firebase"} >= 0.51'),
        ('ratio_rate10m{transport="firebase"} >= 0.5', 'ratio_rate10m{transport="firebase"} >= 0.49'),
        (
            'transport="firebase", outcome=~"failed|timeout"}[10m])) * 600 >= 500',
            'transport="firebase", outcome=~"failed|timeout"}[10m])) * 600 >= 480',
        ),
    ],
    "PeardeckTargetDown": [
        ("== 0\n        for: 5m", "== 0\n        for: 6m"),
        ("== 0\n        for: 5m", "== 0\n        for: 4m"),
    ],
    "PeardeckScrapeSlow": [
        ("[5m]) >= 0.5", "[5m]) >= 0.51"),
        ("[5m]) >= 0.5", "[5m]) >= 0.49"),
    ],
}


def test_every_alert_has_threshold_mutations():
    assert set(THRESHOLD_MUTATIONS) == {rule["alert"] for rule in alert_rules()}


@pytest.mark.parametrize(
    ("alertname", "old", "new"),
    [(alertname, old, new) for alertname, pairs in THRESHOLD_MUTATIONS.items() for old, new in pairs],
)
def test_moving_a_threshold_makes_the_unit_tests_fail(tmp_path, alertname, old, new):
    source = RULES.read_text()
    assert source.count(old) == 1, f"{old!r} must occur exactly once in the rules"
    (tmp_path / RULES.name).write_text(source.replace(old, new))
    # Only the test groups about this alert, which keeps each promtool run short.
    tests = {"rule_files": [RULES.name], "evaluation_interval": None, "tests": []}
    for path in ALL_RULE_TESTS:
        content = yaml.safe_load(path.read_text())
        groups = [
            group
            for group in content["tests"]
            if any(case["alertname"] == alertname for case in group.get("alert_rule_test", []))
        ]
        if groups:
            assert tests["evaluation_interval"] is None, f"{alertname} is tested in two files"
            tests["evaluation_interval"] = content["evaluation_interval"]
            tests["group_eval_order"] = content["group_eval_order"]
            tests["tests"] += groups
    assert tests["tests"]
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(tests))
    result = run(tool("promtool"), "test", "rules", "tests.yml", cwd=tmp_path)
    assert result.returncode != 0, f"the unit tests still pass with {new!r} instead of {old!r}"
    assert f"alertname: {alertname}" in result.stdout + result.stderr


# --- rule structure -------------------------------------------------------------------------------------


def test_every_alert_has_a_for_duration_a_severity_a_summary_a_description_and_a_runbook():
    readme_anchors = {
        re.sub(r"[^a-z0-9_-]", "", line.lstrip("#").strip().lower().replace(" ", "-"))
        for line in README.read_text().splitlines()
        if line.startswith("#")
    }
    for rule in alert_rules():
        name = rule["alert"]
        assert re.fullmatch(r"\d+[smh]", str(rule.get("for", ""))), name
        assert rule["labels"]["severity"] in {"page", "ticket"}, name
        assert rule["annotations"]["summary"].strip(), name
        assert rule["annotations"]["description"].strip(), name
        anchor = rule["annotations"]["runbook"].split("#", 1)[1]
        assert anchor in readme_anchors, f"{name}: no section #{anchor} in deploy/monitoring/README.md"


def test_the_target_down_alert_keeps_its_name_for_the_kubernetes_rule():
    assert "PeardeckTargetDown" in {rule["alert"] for rule in alert_rules()}
    assert [group["name"] for group in load_rules()["groups"]]


def test_every_alert_has_a_firing_case_and_a_silent_case_in_the_unit_tests():
    firing, silent = set(), set()
    for group in rule_test_groups():
        assert group.get("name", "").strip(), "every test group says in its name what it shows"
        for case in group.get("alert_rule_test", []):
            (firing if case.get("exp_alerts") else silent).add(case["alertname"])
    alerts = {rule["alert"] for rule in alert_rules()}
    assert alerts - firing == set(), "alerts never seen firing"
    assert alerts - silent == set(), "alerts never seen silent"


def test_every_recording_rule_has_an_expression_test():
    tested = {
        name
        for group in rule_test_groups()
        for case in group.get("promql_expr_test", [])
        for name in metric_names(case["expr"])
    }
    assert {rule["record"] for rule in recording_rules()} - tested == set()


# --- metric names -----------------------------------------------------------------------------------------


def test_the_metric_name_extractor_finds_selectors_and_ignores_functions_labels_and_keywords():
    expr = (
        'sum by (app, le) (rate(foo_total{a="b", c=~"x|y"}[5m] offset 7d)) / on (app) group_left '
        'bar:baz:ratio > 0.9 and histogram_quantile(0.5, qux_bucket{le="+Inf"}[$__rate_interval])'
    )
    assert metric_names(expr) == {"foo_total", "bar:baz:ratio", "qux_bucket"}


def test_an_undeclared_metric_name_is_reported():
    assert unknown_names(["rate(peardeck_answers_total[5m]) / peardeck_made_up_total"]) == [
        "peardeck_made_up_total"
    ]
    assert unknown_names(["peardeck_answer_duration_seconds_bucket"]) == []
    assert unknown_names(["peardeck_answers_total_bucket"]) == ["peardeck_answers_total_bucket"]


def test_every_metric_in_the_rules_is_declared_or_recorded():
    exprs = [rule["expr"] for group in load_rules()["groups"] for rule in group["rules"]]
    assert unknown_names(exprs) == []


def test_every_metric_on_the_dashboard_is_declared_or_recorded():
    exprs = dashboard_exprs()
    assert exprs
    assert unknown_names(exprs) == []


def test_the_declared_metrics_follow_the_naming_conventions():
    metrics = declared_metrics()["metrics"]
    names = [metric["name"] for metric in metrics]
    assert len(names) == len(set(names))
    for metric in metrics:
        name = metric["name"]
        assert re.fullmatch(r"peardeck_[a-z0-9_]+", name), name
        assert metric["type"] in {"counter", "gauge", "histogram"}, name
        assert (metric["type"] == "counter") == name.endswith("_total"), name
        if metric["type"] == "histogram":
            assert name.endswith("_seconds"), name
        assert metric["job"] in {"peardeck-web", "peardeck-firebase-worker", "peardeck-firebase-probe"}
        assert isinstance(metric["labels"], list), name
        assert {"id", "session", "student", "user"}.isdisjoint(metric["labels"]), name
        assert metric["help"].strip(), name


def test_the_standard_django_series_exist_in_the_installed_django_prometheus():
    from django_prometheus.middleware import Metrics
    from prometheus_client import REGISTRY

    Metrics.get_instance()
    exported = set()
    for family in REGISTRY.collect():
        exported.add(family.name + "_total" if family.type == "counter" else family.name)
    for name in declared_metrics()["standard"]["django_prometheus"]:
        assert name in exported, f"django-prometheus exports no {name}"


def test_alert_thresholds_on_histograms_sit_on_declared_bucket_boundaries():
    metrics = {metric["name"]: metric for metric in declared_metrics()["metrics"]}
    assert {0.25, 1.0} <= set(metrics["peardeck_answer_duration_seconds"]["required_buckets"])
    assert 1.0 in metrics["peardeck_firebase_probe_duration_seconds"]["required_buckets"]
    rules = RULES.read_text()
    assert "p99_5m >= 1\n" in rules
    assert "p95_5m >= 0.25\n" in rules
    assert "p95_10m >= 1\n" in rules


# --- dashboard -----------------------------------------------------------------------------------------


def test_the_dashboard_takes_its_datasource_from_a_template_variable():
    dashboard = json.loads(DASHBOARD.read_text())
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]


def test_the_dashboard_shows_what_operators_need():
    titles = {panel["title"] for panel in json.loads(DASHBOARD.read_text())["panels"]}
    assert {
        "App loads vs. the usual hour",
        "Answers per second by transport",
        "Answer latency p50 / p99",
        "WebSocket connections by role",
        "Firebase probe latency by location",
        "Firebase mirror lag / outbox backlog",
        "HTTP 5xx ratio",
        "Browser live-link failure ratio by app and transport",
    } <= titles
    ids = [panel["id"] for panel in json.loads(DASHBOARD.read_text())["panels"]]
    assert len(ids) == len(set(ids))


# --- Alertmanager ----------------------------------------------------------------------------------------


def test_the_alertmanager_config_passes_amtool_check_config():
    result = run(tool("amtool"), "check-config", str(ALERTMANAGER))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_amtool_refuses_a_broken_alertmanager_config(tmp_path):
    broken = tmp_path / "alertmanager.yml"
    broken.write_text(ALERTMANAGER.read_text().replace("receiver: slack-pages", "receiver: nobody", 1))
    result = run(tool("amtool"), "check-config", str(broken))
    assert result.returncode != 0


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["severity=page", "alertname=PeardeckHTTP5xxRatioHigh"], "slack-pages"),
        (["severity=ticket", "alertname=PeardeckScrapeSlow"], "slack-tickets"),
        (["alertname=SomethingWithoutSeverity"], "slack-tickets"),
    ],
)
def test_alerts_are_routed_to_the_slack_receiver_for_their_severity(labels, receiver):
    result = run(tool("amtool"), "config", "routes", "test", f"--config.file={ALERTMANAGER}", *labels)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receiver


def test_slack_webhook_urls_come_from_mounted_secret_files():
    config = yaml.safe_load(ALERTMANAGER.read_text())
    slack_configs = [slack for receiver in config["receivers"] for slack in receiver["slack_configs"]]
    assert slack_configs
    for slack in slack_configs:
        assert "api_url" not in slack
        assert slack["api_url_file"].startswith("/etc/alertmanager/secrets/")
    assert "slack_api_url" not in config.get("global", {})


def test_slack_messages_show_each_alerts_summary_and_description(tmp_path):
    config = yaml.safe_load(ALERTMANAGER.read_text())
    slack = config["receivers"][0]["slack_configs"][0]
    data = {
        "receiver": "slack-pages",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "PeardeckFirebaseProbeFailing", "severity": "page", "location": loc},
                "annotations": {"summary": f"summary for {loc}", "description": f"description for {loc}"},
                "startsAt": "2026-01-01T00:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "",
                "fingerprint": loc,
            }
            for loc in ("europe-west1", "us-central1")
        ],
        "groupLabels": {"alertname": "PeardeckFirebaseProbeFailing"},
        "commonLabels": {"alertname": "PeardeckFirebaseProbeFailing", "namespace": "production"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.invalid",
    }
    (tmp_path / "data.json").write_text(json.dumps(data))
    (tmp_path / "none.tmpl").write_text("")

    def render(template):
        result = run(
            tool("amtool"),
            "template",
            "render",
            f"--template.glob={tmp_path / 'none.tmpl'}",
            f"--template.text={template}",
            f"--template.data={tmp_path / 'data.json'}",
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    assert render(slack["title"]).strip() == "[FIRING:2] PeardeckFirebaseProbeFailing in production"
    text = render(slack["text"])
    for loc in ("europe-west1", "us-central1"):
        assert f"summary for {loc}" in text
        assert f"description for {loc}" in text
        assert f"location `{loc}`" in text


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def alertmanager(tmp_path):
    """A real Alertmanager running our config, with the webhook secrets pointing at a closed port."""
    binary = tool("prometheus-alertmanager")
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    config = ALERTMANAGER.read_text()
    for path in set(re.findall(r"/etc/alertmanager/secrets/[\w-]+", config)):
        secret = secrets / Path(path).name
        secret.write_text(f"http://127.0.0.1:{free_port()}/slack\n")
        config = config.replace(path, str(secret))
    (tmp_path / "alertmanager.yml").write_text(config)
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp_path / 'alertmanager.yml'}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "alertmanager.log").open("w"),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None:
                pytest.fail("Alertmanager exited:\n" + (tmp_path / "alertmanager.log").read_text())
            time.sleep(0.1)
        else:
            pytest.fail("Alertmanager did not become ready:\n" + (tmp_path / "alertmanager.log").read_text())
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_down_target_inhibits_the_other_alerts_of_its_job_only(alertmanager):
    def alert(alertname, job, **labels):
        return {
            "labels": {"alertname": alertname, "namespace": "production", "job": job, **labels},
            "annotations": {"summary": alertname, "description": alertname},
        }

    alerts = [
        alert("PeardeckTargetDown", "peardeck-firebase-worker", severity="page", instance="10.0.0.7:9100"),
        alert("PeardeckMirrorLagHigh", "peardeck-firebase-worker", severity="page"),
        alert("PeardeckOutboxBacklogHigh", "peardeck-firebase-worker", severity="ticket"),
        alert("PeardeckHTTP5xxRatioHigh", "peardeck-web", severity="page"),
    ]
    response = httpx.post(f"{alertmanager}/api/v2/alerts", json=alerts, timeout=5)
    assert response.status_code == 200, response.text

    inhibited = {}
    for _ in range(50):
        listed = httpx.get(f"{alertmanager}/api/v2/alerts", timeout=5).json()
        inhibited = {a["labels"]["alertname"]: bool(a["status"]["inhibitedBy"]) for a in listed}
        if len(inhibited) == len(alerts) and inhibited["PeardeckMirrorLagHigh"]:
            break
        time.sleep(0.1)
    assert inhibited == {
        "PeardeckTargetDown": False,
        "PeardeckMirrorLagHigh": True,
        "PeardeckOutboxBacklogHigh": True,
        "PeardeckHTTP5xxRatioHigh": False,
    }
