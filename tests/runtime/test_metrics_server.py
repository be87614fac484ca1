"""The web pods' metrics under gunicorn with three workers, as production serves them: summed
exactly across workers, through worker restarts, on the metrics port only, and fast to scrape."""

import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.support.metrics import answer, answering_class, request, scrape, server_env, value
from tests.support.server import running_server

pytestmark = pytest.mark.timeout(240)

ANSWERS = 120
STATE_READS = 60


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("metrics-server")
    env, metrics_url, multiproc = server_env(tmp)
    # Workers restart after ~50 requests, so the run below goes through several restarts.
    env["MAX_REQUESTS"] = "50"
    with running_server(env, workers=3, log_path=tmp / "gunicorn.log") as base:
        yield base, metrics_url, multiproc, tmp / "gunicorn.log"


@pytest.fixture(scope="module")
def after_a_busy_class(server):
    base, metrics_url, _multiproc, _log = server
    tokens, question_id = answering_class(base, students=6)
    with ThreadPoolExecutor(8) as pool:
        answered = list(
            pool.map(
                lambda i: _outcome(answer(base, tokens[i % len(tokens)], question_id, i)), range(ANSWERS)
            )
        )
        reads = list(
            pool.map(
                lambda i: (
                    request(
                        "GET",
                        f"{base}/api/student/state",
                        headers={"Authorization": f"Bearer {tokens[i % len(tokens)]}"},
                    ).status_code
                ),
                range(STATE_READS),
            )
        )
    # Each answer is stored (201), or taken in the same batch as a later one of its student's, which
    # is what is stored (200, superseded): accepted and counted either way, never a replay.
    assert set(answered) <= {"stored", "superseded"}, answered
    assert reads == [200] * STATE_READS
    return scrape(metrics_url)


def _outcome(response) -> str:
    if response.status_code == 201:
        return "stored"
    if response.status_code == 200 and response.json()["superseded"]:
        return "superseded"
    return f"{response.status_code} {response.text}"


def test_answers_counted_by_three_workers_add_up_to_exactly_the_answers_sent(server, after_a_busy_class):
    samples = after_a_busy_class
    assert value(samples, "peardeck_answers_total", transport="http", kind="number") == ANSWERS
    assert value(samples, "peardeck_answer_duration_seconds_count", transport="http") == ANSWERS
    assert value(samples, "peardeck_answers_total", transport="ws") == 0


def test_django_request_counters_add_up_to_exactly_the_requests_sent(server, after_a_busy_class):
    samples = after_a_busy_class
    by_view = {
        dict(labels)["view"]: count
        for (name, labels), count in samples.items()
        if name == "django_http_requests_total_by_view_transport_method_total"
    }
    submit = [view for view in by_view if view.endswith("submit")]
    state = [view for view in by_view if view.endswith("student_state")]
    assert len(submit) == 1 and len(state) == 1, by_view
    assert by_view[submit[0]] == ANSWERS
    assert by_view[state[0]] == STATE_READS
    assert value(samples, "peardeck_join_attempts_total", outcome="joined") == 6


def test_workers_restarted_during_the_run_and_their_files_were_folded_into_archives(
    server, after_a_busy_class
):
    _base, _url, multiproc, log = server
    assert "Autorestarting worker" in log.read_text() or "Maximum request limit" in log.read_text()
    counter_files = sorted(path.name for path in multiproc.glob("counter_*.db"))
    assert "counter_archive.db" in counter_files
    # The three live workers' files and the archive: nothing piles up from the dead workers.
    assert len(counter_files) <= 4, counter_files


def test_the_build_info_and_open_sessions_gauges_are_exported(server, after_a_busy_class):
    _base, metrics_url, _multiproc, _log = server
    deadline = time.monotonic() + 15
    while True:
        samples = scrape(metrics_url)
        if samples.get(("peardeck_open_sessions", ())) == 1:
            break
        assert time.monotonic() < deadline, samples.get(("peardeck_open_sessions", ()))
        time.sleep(0.5)
    build = [labels for (name, labels), v in samples.items() if name == "peardeck_build_info" and v == 1]
    assert build == [(("commit", "unknown"), ("version", "dev"))]


def test_every_browser_transport_connect_series_is_exported_at_zero_before_any_report(
    server, after_a_busy_class
):
    """A counter that first appears with its first report loses that report from rate() and increase():
    Prometheus has no earlier sample to count the jump from, so the first failures would go unseen."""
    samples = after_a_busy_class
    exported = {
        "/".join(dict(labels)[key] for key in ("app", "transport", "outcome", "firebase_transport")): count
        for (name, labels), count in samples.items()
        if name == "peardeck_browser_transport_connects_total"
    }
    assert exported == {
        f"{app}/{transport}/{outcome}/{via}": 0
        for app in ("teacher", "student", "projector")
        for transport in ("websocket", "firebase")
        for outcome in ("connected", "failed", "timeout")
        for via in ("none", "websocket", "long_polling")
    }


def test_metrics_are_not_served_on_the_app_port(server):
    base, _metrics_url, _multiproc, _log = server
    response = httpx.get(f"{base}/metrics")
    assert response.status_code == 404


def test_a_scrape_after_many_requests_and_restarts_stays_fast(server, after_a_busy_class):
    _base, metrics_url, _multiproc, _log = server
    timings = []
    for _ in range(20):
        started = time.perf_counter()
        httpx.get(metrics_url, timeout=10).raise_for_status()
        timings.append(time.perf_counter() - started)
    median, worst = statistics.median(timings), max(timings)
    print(f"\nscrape with 3 workers after restarts: median {median * 1000:.1f} ms, max {worst * 1000:.1f} ms")
    # The target is 100 ms (SPEC §7, see bench/metrics_scrape); generous here for a shared machine.
    assert median < 0.5
