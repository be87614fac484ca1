"""The transport limits through a real gunicorn, as a browser meets them: a chunked body, a body or
a WebSocket message over the limit (issue 14, points 6 and 7)."""

import asyncio
import json

import httpx
import pytest
import websockets

from tests.support.classroom import open_class, text_questions
from tests.support.metrics import scrape, server_env
from tests.support.server import running_server

pytestmark = [pytest.mark.timeout(240)]

LIMIT = 512 * 1024  # DATA_UPLOAD_MAX_MEMORY_SIZE's default, and ws_max_size's


def _chunks(data: bytes, size: int = 4096):
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _refused(samples: dict, transport: str) -> float:
    key = ("peardeck_messages_refused_total", (("reason", "too_large"), ("transport", transport)))
    return samples.get(key, 0.0)


def test_bodies_and_messages_over_the_limit_are_refused_and_counted_and_chunked_bodies_are_read(tmp_path):
    env, metrics_url, _multiproc = server_env(tmp_path, workers_share_redis=False)
    with running_server(env, log_path=tmp_path / "server.log") as server:
        report = {
            "app": "student",
            "metrics": [{"name": "app_load", "labels": {"outcome": "success"}, "value": 1}],
        }
        # A generator body goes out with Transfer-Encoding: chunked and no Content-Length.
        chunked = httpx.post(f"{server}/api/browser-metrics", content=_chunks(json.dumps(report).encode(), 8))
        assert (chunked.status_code, chunked.json()) == (202, {"accepted": 1})

        too_large = httpx.post(
            f"{server}/api/browser-metrics", content=_chunks(b"[" + b"1," * LIMIT + b"1]"), timeout=30
        )
        assert too_large.status_code == 413
        assert too_large.json()["error"]["code"] == "payload_too_large"
        assert too_large.json()["error"]["message"]

        live = open_class(server, title="limits", questions=text_questions("Say"), students=["Zed"])
        url = f"{server.replace('http://', 'ws://')}/ws/sessions/{live.session['join_code']}/student/"

        async def send_too_much() -> int:
            async with websockets.connect(f"{url}?token={live.token('Zed')}", origin=server) as socket:
                assert json.loads(await socket.recv())["type"] == "hello"
                await socket.send(json.dumps({"type": "ping", "padding": "x" * LIMIT}))
                try:
                    while True:
                        await asyncio.wait_for(socket.recv(), timeout=10)
                except websockets.ConnectionClosed as closed:
                    return closed.rcvd.code if closed.rcvd else closed.sent.code

        assert asyncio.run(send_too_much()) == 1009

        samples = scrape(metrics_url)
        assert _refused(samples, "http") == 1
        assert _refused(samples, "websocket") == 1
