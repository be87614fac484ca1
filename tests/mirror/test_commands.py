"""manage.py firebase_worker and firebase_probe: real processes for the metrics ports and kills,
call_command for the probe's behaviour against a healthy, failing, slow and silent stand-in."""

import os
import signal
import subprocess
import sys
import time
import uuid

import httpx
import pytest
from django.core.management import CommandError, call_command
from prometheus_client import REGISTRY

from tests.firebase_standin.fixtures import FIREBASE_TEST_SHARDS
from tests.support.server import ROOT, free_port, manage

MAKE_SESSION = """
from sessions.models import Deck
from live import services as live_services
session, _ = live_services.create_session(teacher=Deck.objects.get().owner, deck=Deck.objects.get())
live_services.start_session(session=session)
print(session.pk)
"""
STEP = """
from sessions.models import Session
from live import services as live_services
session = live_services.step_question(session=Session.objects.get(pk={pk}), step=1)
session.refresh_from_db()
print(session.seq)
"""


@pytest.fixture
def process_env(tmp_path):
    env = {
        **os.environ,
        "PEARDECK_VAR_DIR": str(tmp_path),
        "SQLITE_PATH": str(tmp_path / "peardeck.sqlite3"),
        "FIREBASE_DATABASE_URLS": "",
    }
    for name in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE"):
        env.pop(name, None)
    return env


def _shell(code: str, env: dict) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def _start(args: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _sample(metrics_text: str, name: str) -> float | None:
    for line in metrics_text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def _wait_for(condition, timeout: float = 30.0, process: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except (httpx.HTTPError, TypeError, KeyError):
            value = None
        if value:
            return value
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the process exited: {process.stdout.read()}")
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.2)


def _metrics(port: int) -> str:
    return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text


def test_the_worker_with_firebase_off_keeps_running_serves_metrics_and_stops_on_sigterm(process_env):
    manage("migrate", "--no-input", env=process_env)
    port = free_port()
    worker = _start(["firebase_worker", "--metrics-port", str(port)], process_env)
    try:
        text = _wait_for(lambda: _metrics(port), process=worker)
        assert _sample(text, "peardeck_outbox_backlog") == 0
        assert _sample(text, "peardeck_firebase_mirror_lag_seconds") == 0
        time.sleep(1)
        assert worker.poll() is None
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=15) == 0
    finally:
        worker.kill()
    assert "Firebase off" in worker.stdout.read()


def test_a_worker_process_relays_the_outbox_and_one_killed_and_restarted_catches_up(
    process_env, firebase_standin
):
    env = {
        **process_env,
        "FIREBASE_DATABASE_URLS": f"https://{FIREBASE_TEST_SHARDS[0]}.firebaseio.com",
        "FIREBASE_DATABASE_EMULATOR_HOST": firebase_standin.address,
    }
    manage("migrate", "--no-input", env=env)
    manage("seed_demo", env=env)
    session_id = int(_shell(MAKE_SESSION, env))
    seq = int(_shell(STEP.format(pk=session_id), env))

    def mirrored():
        return (firebase_standin.data(FIREBASE_TEST_SHARDS[0], f"/sessions/{session_id}") or {}).get("seq")

    port = free_port()
    worker = _start(["firebase_worker", "--metrics-port", str(port), "--interval", "0.1"], env)
    try:
        _wait_for(lambda: mirrored() == seq, process=worker)
        _wait_for(lambda: _sample(_metrics(port), "peardeck_outbox_backlog") == 0, process=worker)
    finally:
        worker.kill()  # SIGKILL: no goodbye
        worker.wait(timeout=10)

    for _ in range(3):
        seq = int(_shell(STEP.format(pk=session_id), env))
    assert mirrored() < seq
    restarted = _start(["firebase_worker", "--metrics-port", str(free_port()), "--interval", "0.1"], env)
    try:
        _wait_for(lambda: mirrored() == seq, process=restarted)
    finally:
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(timeout=15)
    document = firebase_standin.data(FIREBASE_TEST_SHARDS[0], f"/sessions/{session_id}")
    assert document["state"] == "live" and document["question"]["position"] == 4


# --- the probe ------------------------------------------------------------------------------------


def _value(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def location() -> str:
    return f"lab-{uuid.uuid4().hex[:8]}"


def test_the_probe_writes_and_reads_its_node_on_every_shard_and_records_durations(
    firebase_settings, firebase_standin, location
):
    call_command("firebase_probe", "--location", location, "--rounds", "1", "--metrics-port", "0")
    for namespace in FIREBASE_TEST_SHARDS:
        assert set(firebase_standin.data(namespace, f"/probes/{location}")) == {"nonce", "written_at"}
    assert _value("peardeck_firebase_probe_attempts_total", location=location) == 2
    assert _value("peardeck_firebase_probe_duration_seconds_count", location=location, operation="write") == 2
    assert _value("peardeck_firebase_probe_duration_seconds_count", location=location, operation="read") == 2
    assert _value("peardeck_firebase_probe_failures_total", location=location, reason="unavailable") == 0


def test_the_probe_counts_an_unreachable_firebase_as_failed_rounds(
    firebase_settings, firebase_standin, location
):
    firebase_standin.go_down("refuse")
    call_command("firebase_probe", "--location", location, "--rounds", "1", "--metrics-port", "0")
    assert _value("peardeck_firebase_probe_attempts_total", location=location) == 2
    assert _value("peardeck_firebase_probe_failures_total", location=location, reason="unavailable") == 2


def test_a_slow_firebase_shows_in_the_probe_histogram(firebase_settings, firebase_standin, location):
    firebase_standin.set_latency(0.3)
    call_command("firebase_probe", "--location", location, "--rounds", "1", "--metrics-port", "0")
    fast = _value(
        "peardeck_firebase_probe_duration_seconds_bucket", location=location, operation="write", le="0.25"
    )
    total = _value("peardeck_firebase_probe_duration_seconds_count", location=location, operation="write")
    assert (fast, total) == (0, 2)
    assert _value("peardeck_firebase_probe_duration_seconds_sum", location=location, operation="write") >= 0.6


def test_a_firebase_that_never_answers_fails_the_probe_with_a_timeout(
    firebase_settings, firebase_standin, location
):
    firebase_standin.go_down("hang")
    try:
        started = time.monotonic()
        call_command(
            "firebase_probe",
            "--location",
            location,
            "--rounds",
            "1",
            "--metrics-port",
            "0",
            "--timeout",
            "0.3",
        )
        assert time.monotonic() - started < 10
    finally:
        firebase_standin.come_up()
    assert _value("peardeck_firebase_probe_failures_total", location=location, reason="timeout") == 2


def test_the_probe_refuses_a_bad_location_and_firebase_off(settings, firebase_settings):
    with pytest.raises(CommandError, match="location"):
        call_command("firebase_probe", "--location", "Europe West!", "--rounds", "1", "--metrics-port", "0")
    settings.FIREBASE_DATABASE_URLS = []
    with pytest.raises(CommandError, match="off"):
        call_command("firebase_probe", "--location", "lab", "--rounds", "1", "--metrics-port", "0")


def test_the_probe_process_exports_its_metrics_on_its_port(process_env, firebase_standin):
    env = {
        **process_env,
        "FIREBASE_DATABASE_URLS": f"https://{FIREBASE_TEST_SHARDS[0]}.firebaseio.com",
        "FIREBASE_DATABASE_EMULATOR_HOST": firebase_standin.address,
    }
    port = free_port()
    probe = _start(
        ["firebase_probe", "--location", "test-lab", "--metrics-port", str(port), "--interval", "0.2"], env
    )
    try:
        # A round counts its attempt first and its durations as they complete.
        read_bucket = (
            'peardeck_firebase_probe_duration_seconds_bucket{le="1.0",location="test-lab",operation="read"}'
        )
        text = _wait_for(lambda: (lambda t: t if read_bucket in t else None)(_metrics(port)), process=probe)
        assert _sample(text, 'peardeck_firebase_probe_attempts_total{location="test-lab"}') >= 1
        assert 'operation="write"' in text
    finally:
        probe.send_signal(signal.SIGTERM)
        assert probe.wait(timeout=15) == 0


@pytest.mark.parametrize(
    ("manifest", "command"),
    [("firebase-worker", "firebase_worker"), ("firebase-probe", "firebase_probe")],
    ids=["the worker", "the probe"],
)
def test_the_deployments_run_the_command_with_arguments_it_takes_and_scrape_its_default_port(
    manifest, command
):
    import yaml
    from django.core.management import load_command_class

    deployment = yaml.safe_load((ROOT / "deploy" / "base" / manifest / "deployment.yaml").read_text())
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][:3] == ["python", "manage.py", command]
    arguments = [
        arg.replace("$(FIREBASE_PROBE_LOCATION)", "europe-west1") for arg in container["command"][3:]
    ]
    parsed = load_command_class("mirror", command).create_parser("manage.py", command).parse_args(arguments)
    assert {port["containerPort"] for port in container["ports"]} == {parsed.metrics_port} == {9100}
