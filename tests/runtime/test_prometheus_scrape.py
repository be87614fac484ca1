"""End to end: a real Prometheus scrapes a running peardeck's metrics port and answers queries
about the answers and browser metrics just sent."""

import shutil
import subprocess
import time

import httpx
import pytest

from tests.support.metrics import answer, answering_class, server_env
from tests.support.server import free_port, running_server

pytestmark = pytest.mark.timeout(180)

ANSWERS = 7


@pytest.fixture
def prometheus(tmp_path):
    """Starts Prometheus scraping the given target every second; yields a query function."""
    binary = shutil.which("prometheus")
    assert binary, "the prometheus binary is missing: run scripts/install-test-tools"
    processes = []

    def start(metrics_url: str):
        target = metrics_url.removeprefix("http://").removesuffix("/metrics")
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
            "scrape_configs:\n  - job_name: peardeck-web\n"
            f"    static_configs:\n      - targets: ['{target}']\n"
        )
        port = free_port()
        log = open(tmp_path / "prometheus.log", "wb")  # noqa: SIM115
        processes.append(
            (
                subprocess.Popen(
                    [
                        binary,
                        f"--config.file={config}",
                        f"--storage.tsdb.path={tmp_path / 'data'}",
                        f"--web.listen-address=127.0.0.1:{port}",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                ),
                log,
            )
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "prometheus.log").read_text()[-2000:]
            time.sleep(0.2)

        def query(expression: str) -> float | None:
            body = httpx.get(f"{base}/api/v1/query", params={"query": expression}, timeout=5).json()
            assert body["status"] == "success", body
            result = body["data"]["result"]
            return float(result[0]["value"][1]) if result else None

        return query

    yield start
    for process, log in processes:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def eventually(query, expression: str, expected: float, *, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while True:
        got = query(expression)
        if got == expected:
            return
        assert time.monotonic() < deadline, f"{expression} = {got}, expected {expected}"
        time.sleep(0.5)


def test_prometheus_sees_the_answers_and_browser_metrics_sent_to_the_app(tmp_path, prometheus):
    env, metrics_url, _multiproc = server_env(tmp_path)
    with running_server(env, workers=2, log_path=tmp_path / "gunicorn.log") as base:
        query = prometheus(metrics_url)
        eventually(query, 'up{job="peardeck-web"}', 1)
        # Declared series are there at zero before anything happens.
        eventually(query, 'sum(peardeck_browser_app_loads_total{app="student",outcome="success"})', 0)

        tokens, question_id = answering_class(base, students=2)
        for i in range(ANSWERS):
            assert answer(base, tokens[i % 2], question_id, i).status_code == 201
        report = {
            "app": "student",
            "metrics": [
                {"name": "app_load", "labels": {"outcome": "success"}, "value": 4},
                {"name": "time_to_interactive", "value": 2.5},
                {"name": "websocket_darklaunch", "labels": {"outcome": "connected"}, "value": 1},
            ],
        }
        assert httpx.post(f"{base}/api/browser-metrics", json=report).status_code == 202
        bad = {"app": "student", "metrics": [{"name": "mining_rate", "value": 1}]}
        assert httpx.post(f"{base}/api/browser-metrics", json=bad).status_code == 422

        eventually(query, 'sum(peardeck_answers_total{transport="http",kind="number"})', ANSWERS)
        eventually(query, 'sum(peardeck_answer_duration_seconds_count{transport="http"})', ANSWERS)
        eventually(query, 'sum(peardeck_browser_app_loads_total{app="student",outcome="success"})', 4)
        eventually(
            query, 'sum(peardeck_browser_time_to_interactive_seconds_bucket{app="student",le="3.0"})', 1
        )
        eventually(query, 'sum(peardeck_browser_websocket_darklaunch_total{outcome="connected"})', 1)
        eventually(query, 'sum(peardeck_browser_metrics_rejected_total{reason="unknown_metric"})', 1)
        eventually(query, "peardeck_open_sessions", 1)
        assert query('count(peardeck_build_info{version="dev"})') == 1
