"""Helpers for tests and benchmarks that run peardeck under gunicorn and read its metrics port
(the classes they fill come from tests/support/classroom.py)."""

import os
import time
import uuid
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.classroom import number_questions, open_class
from tests.support.server import free_port, fresh_postgres_database

# Redis db 3: enough for gunicorn to start several workers, apart from dbs others use.
REDIS_URL = "redis://127.0.0.1:6379/3"


def server_env(tmp: Path, *, workers_share_redis: bool = True) -> tuple[dict, str, Path]:
    """Environment for a server with its own database, metrics port and multiprocess directory;
    returns (env, metrics URL, multiprocess directory)."""
    metrics_port = free_port()
    multiproc = tmp / "multiproc"
    env = {
        "PEARDECK_VAR_DIR": str(tmp),
        "DEBUG": "false",
        "PEARDECK_METRICS_BIND": f"127.0.0.1:{metrics_port}",
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
        "PEARDECK_OPEN_SESSIONS_REFRESH_SECONDS": "0.5",
    }
    if workers_share_redis:
        env["REDIS_URL"] = REDIS_URL
    if os.environ.get("DATABASE_URL"):
        env["DATABASE_URL"] = fresh_postgres_database(os.environ["DATABASE_URL"], "metrics_test")
    else:
        env["SQLITE_PATH"] = str(tmp / "metrics.sqlite3")
    return env, f"http://127.0.0.1:{metrics_port}/metrics", multiproc


def answering_class(base: str, *, students: int = 3) -> tuple[list[str], int]:
    """A live student-paced class on one number question (0..1000), for answers to count;
    returns the students' tokens and the question's id."""
    live = open_class(
        base,
        title="Metrics",
        questions=number_questions("How many?", min=0, max=1000),
        pacing="student",
        students=[f"S{n}" for n in range(students)],
    )
    return live.tokens, live.questions[0]["id"]


def request(method: str, url: str, **kwargs) -> httpx.Response:
    """One request over a fresh connection (so the kernel spreads them over the workers), sent
    again if a worker that is restarting resets the connection before reading the request."""
    for attempt in range(5):
        try:
            return httpx.request(method, url, timeout=30, **kwargs)
        except (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError):
            if attempt == 4:
                raise
            time.sleep(0.2)
    raise AssertionError("unreachable")


def answer(base: str, token: str, question_id: int, value: int) -> httpx.Response:
    """One answer with its own submission_id: even if sent twice it is stored once."""
    body = {"question_id": question_id, "submission_id": uuid.uuid4().hex, "answer": {"value": value}}
    return request(
        "POST", f"{base}/api/student/responses", json=body, headers={"Authorization": f"Bearer {token}"}
    )


def scrape(url: str) -> dict:
    """{(sample name, ((label, value), ...)): value} from one scrape."""
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200, response.text
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels) -> float:
    """Sum of the samples called `name` whose labels include `labels`."""
    wanted = set(labels.items())
    matched = [v for (n, lbls), v in samples.items() if n == name and wanted <= set(lbls)]
    assert matched, f"no sample {name}{labels}"
    return sum(matched)
