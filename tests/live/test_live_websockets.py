"""WebSockets through real gunicorn processes: across servers over Redis, shutdown, heartbeats."""

import asyncio
import base64
import json
import os
import signal
import socket
import time

import pytest
import websockets

from tests.support.classroom import open_class, text_questions
from tests.support.server import fresh_postgres_database, running_server

pytestmark = [pytest.mark.timeout(240)]

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0").rsplit("/", 1)[0] + "/7"


def _flush_redis():
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()


@pytest.fixture
def shared_database(tmp_path):
    """Both servers must share one database: a SQLite file, or the PostgreSQL pass's database."""
    if os.environ.get("DATABASE_URL"):
        return {"DATABASE_URL": fresh_postgres_database(os.environ["DATABASE_URL"], "live_ws")}
    return {"SQLITE_PATH": str(tmp_path / "shared.sqlite3")}


def make_class(base: str) -> dict:
    live = open_class(base, title="live", questions=text_questions("one", "two"), students=["Phoebe"])
    return {
        "teacher": live.teacher.client(base),
        "session": live.session,
        "student_token": live.token("Phoebe"),
    }


def ws_url(base: str, code: str, token: str) -> str:
    return f"{base.replace('http://', 'ws://')}/ws/sessions/{code}/student/?token={token}"


async def next_of_type(ws, kind: str, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout=max(0.1, deadline - time.monotonic())))
        if message["type"] == kind:
            return message


def test_a_teacher_action_on_one_server_reaches_a_student_on_another(tmp_path, shared_database):
    _flush_redis()
    env = {**shared_database, "REDIS_URL": REDIS_URL, "PEARDECK_VAR_DIR": str(tmp_path)}
    with (
        running_server({**env, "WEB_CONCURRENCY": "1"}, log_path=tmp_path / "a.log") as server_a,
        running_server({**env, "WEB_CONCURRENCY": "1"}, log_path=tmp_path / "b.log") as server_b,
    ):
        room = make_class(server_a)

        async def scenario():
            origin = server_b
            async with websockets.connect(
                ws_url(server_b, room["session"]["join_code"], room["student_token"]), origin=origin
            ) as ws:
                hello = await next_of_type(ws, "hello")
                moved = await asyncio.to_thread(
                    room["teacher"].post, f"/sessions/{room['session']['id']}/next"
                )
                assert moved.status_code == 200
                changed = await next_of_type(ws, "question_changed")
                assert changed["seq"] == hello["seq"] + 1
                assert changed["question"]["prompt"] == "two"

        asyncio.run(scenario())


def test_shutting_down_closes_sockets_with_going_away_in_bounded_time(tmp_path):
    env = {
        "PEARDECK_VAR_DIR": str(tmp_path),
        "SQLITE_PATH": str(tmp_path / "db.sqlite3"),
        "WS_DRAIN_SECONDS": "5",
    }
    with running_server(env, log_path=tmp_path / "server.log") as server:
        room = make_class(server)

        async def scenario():
            async with websockets.connect(
                ws_url(server, room["session"]["join_code"], room["student_token"]), origin=server
            ) as ws:
                await next_of_type(ws, "hello")
                started = time.monotonic()
                server.process.send_signal(signal.SIGTERM)
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    while True:
                        await asyncio.wait_for(ws.recv(), timeout=10)
                return closed.value.rcvd.code, time.monotonic() - started

        code, seconds = asyncio.run(scenario())
        assert code == 1001
        assert seconds < 5


def test_heartbeats_close_a_socket_whose_client_stopped_answering(tmp_path):
    env = {
        "PEARDECK_VAR_DIR": str(tmp_path),
        "SQLITE_PATH": str(tmp_path / "db.sqlite3"),
        "WS_PING_INTERVAL": "0.5",
        "WS_PING_TIMEOUT": "0.5",
    }
    with running_server(env, log_path=tmp_path / "server.log") as server:
        room = make_class(server)
        host, port = server.removeprefix("http://").split(":")
        raw = socket.create_connection((host, int(port)), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        path = f"/ws/sessions/{room['session']['join_code']}/student/?token={room['student_token']}"
        raw.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: {server}\r\n\r\n"
            ).encode()
        )
        assert b"101" in raw.recv(4096).split(b"\r\n", 1)[0]
        # Never answer a ping: the server must give up on us within a few seconds.
        started = time.monotonic()
        while True:
            chunk = raw.recv(4096)
            if not chunk:
                break
            assert time.monotonic() - started < 10, "the dead socket was never closed"
        assert time.monotonic() - started < 10
        raw.close()
