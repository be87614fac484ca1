"""Starts peardeck the way production does (gunicorn + uvicorn workers) on a free local port.

Used by tests that must cross a real socket and by the benchmarks under bench/.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


class LiveServer(str):
    """The server's base URL, carrying the gunicorn master process behind it."""

    process: subprocess.Popen


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def manage(*args: str, env: dict) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}{result.stderr}")


@contextmanager
def running_server(env_overrides: dict, *, workers: int | None = None, log_path: Path | None = None):
    """Migrates the configured database, starts gunicorn, waits for /readyz, yields the base URL.

    Unless env_overrides says otherwise, each server gets its own metrics port and multiprocess
    directory, so servers started side by side (other tests, `make run`) never share either."""
    port = free_port()
    # The server's database and Redis are only ever the ones the caller names.
    inherited = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env = {**inherited, **env_overrides, "PEARDECK_BIND": f"127.0.0.1:{port}"}
    env.setdefault("PEARDECK_METRICS_BIND", f"127.0.0.1:{free_port()}")
    # Every teacher and student a test server meets comes from 127.0.0.1, so the per-address
    # limits meant for one school's network would refuse a module's worth of sign-ups and joins
    # (a page test once failed on its eleventh sign-up within a minute). A test about those
    # limits sets them itself.
    env.setdefault("RATE_LIMIT_LOGIN", "100000")
    env.setdefault("RATE_LIMIT_JOIN", "100000")
    own_multiproc_dir = None
    if "PROMETHEUS_MULTIPROC_DIR" not in env:
        own_multiproc_dir = tempfile.mkdtemp(prefix="peardeck-metrics-")
        env["PROMETHEUS_MULTIPROC_DIR"] = own_multiproc_dir
    env.pop("DJANGO_SETTINGS_MODULE", None)
    if workers is not None:
        env["WEB_CONCURRENCY"] = str(workers)
    # One-off commands get the server's whole environment, as a pod's would (manage.py itself
    # keeps their metrics in memory).
    manage("migrate", "--no-input", env=env)
    # As the image does at build: without it, pages using static files fail with DEBUG off.
    manage("collectstatic", "--no-input", "--verbosity", "0", env=env)
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(
        [str(VENV_BIN / "gunicorn"), "-c", "gunicorn.conf.py", "peardeck.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = LiveServer(f"http://127.0.0.1:{port}")
    base.process = process
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {process.returncode}; see {log_path}")
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not become ready within 30 s")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        if log_path:
            log.close()
        if own_multiproc_dir:
            shutil.rmtree(own_multiproc_dir, ignore_errors=True)


def ok(response: httpx.Response, status: int = 200) -> dict:
    """Asserts a live server's answer had `status` (naming the request if not); returns its JSON."""
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url}: {response.text}"
    )
    is_json = response.headers.get("content-type", "").startswith("application/json")
    return response.json() if is_json and response.content else {}


def fresh_postgres_database(url: str, purpose: str) -> str:
    """An empty PostgreSQL database on the server `url` names, for a live server or a benchmark,
    named for this checkout and purpose so parallel suites never share one; returns its URL."""
    import hashlib

    import psycopg

    server = url.rsplit("/", 1)[0]
    name = f"peardeck_{purpose}_{hashlib.sha1(str(ROOT).encode()).hexdigest()[:8]}"
    # Managed through the "postgres" database, which always exists.
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    return f"{server}/{name}"
