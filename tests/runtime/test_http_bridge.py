"""runtime/http_bridge.py: the teacher's requests run on a lane of their own, and a body far past
Django's cap is refused before it is buffered, with the API's error body."""

import asyncio
import json
import threading
import time

from runtime import threads
from runtime.http_bridge import WsgiOverAsgi, lane_for


def scope(path: str, method: str = "POST") -> dict:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [],
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
    }


async def call(app, path: str) -> int:
    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    sent = []

    async def send(message):
        sent.append(message)

    await app(scope(path), receive, send)
    return sent[0]["status"]


def test_the_teachers_session_api_has_its_own_lane_and_the_rest_shares_the_request_pool():
    assert lane_for(scope("/api/sessions/7/lock")) == "control"
    assert lane_for(scope("/api/sessions")) == "control"
    assert lane_for(scope("/api/student/responses")) == "requests"
    assert lane_for(scope("/api/student/state", "GET")) == "requests"
    assert lane_for(scope("/api/join")) == "requests"


def test_a_lock_is_served_at_once_while_every_request_thread_is_busy_with_answers(settings):
    """Answers that fill every request thread (and queue behind them) do not delay a teacher."""
    release = threading.Event()

    def wsgi(environ, start_response):
        if environ["PATH_INFO"].startswith("/api/student/"):
            release.wait(10)  # an answer stuck on a slow database
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b"{}"]

    app = WsgiOverAsgi(wsgi)

    async def scenario():
        answers = [
            asyncio.create_task(call(app, "/api/student/responses"))
            for _ in range(threads.pool()._max_workers * 3)
        ]
        await asyncio.sleep(0.2)
        started = time.monotonic()
        status = await asyncio.wait_for(call(app, "/api/sessions/1/lock"), timeout=5)
        lock_seconds = time.monotonic() - started
        release.set()
        assert all(status == 200 for status in await asyncio.gather(*answers))
        return status, lock_seconds

    try:
        status, lock_seconds = asyncio.run(scenario())
    finally:
        release.set()
    assert status == 200
    assert lock_seconds < 0.5


async def test_a_body_far_over_the_cap_is_a_413_with_the_error_body(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    sent = []
    chunks = [{"type": "http.request", "body": b"x" * 2048, "more_body": True} for _ in range(3)]

    async def receive():
        return chunks.pop(0)

    async def send(message):
        sent.append(message)

    def never_called(environ, start_response):
        raise AssertionError("the request reached Django")

    await WsgiOverAsgi(never_called)(scope("/api/decks"), receive, send)
    assert sent[0]["status"] == 413
    error = json.loads(sent[1]["body"])["error"]
    assert error["code"] == "payload_too_large"
    assert error["message"]
    assert error["field"] == "body"
