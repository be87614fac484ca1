"""The Realtime Database WebSocket protocol of the stand-in, spoken by hand (no browser): the
parts a browser test can't reach quickly or at all."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.firebase_standin import StandIn, websocket
from tests.firebase_standin.auth import unsigned_jwt
from tests.firebase_standin.fixtures import FIREBASE_TEST_NAMESPACE
from tests.firebase_standin.realtime import node_hash
from tests.firebase_standin.websocket_transport import MAX_FRAME_CHARS
from tests.support.waiting import wait_until

NS = FIREBASE_TEST_NAMESPACE


class Client:
    """A bare protocol client: sends requests, collects pushes, finds answers by number."""

    def __init__(self, standin: StandIn) -> None:
        self.endpoint = websocket.connect("127.0.0.1", standin.port, f"/.ws?ns={NS}&v=5")
        self.hello = self.next_message()
        self.pushes: list[dict[str, Any]] = []
        self.number = 0

    def next_message(self) -> dict[str, Any]:
        text = self.endpoint.receive()
        if len(text) <= 6 and text.isdigit():
            text = "".join(self.endpoint.receive() for _ in range(int(text)))
        return json.loads(text)

    def request(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        self.number += 1
        self.endpoint.send_text(json.dumps({"t": "d", "d": {"r": self.number, "a": action, "b": body}}))
        return self.answer(self.number)

    def answer(self, number: int) -> dict[str, Any]:
        while True:
            message = self.next_message()
            if message["t"] == "d" and message["d"].get("r") == number:
                return message["d"]["b"]
            self.pushes.append(message)

    def push(self, timeout: float = 5) -> dict[str, Any]:
        if self.pushes:
            return self.pushes.pop(0)
        self.endpoint.sock.settimeout(timeout)
        return self.next_message()


@pytest.fixture
def standin() -> Iterator[StandIn]:
    with StandIn(project_id=NS, id_token_seconds=3600) as standin:
        yield standin


def id_token(standin: StandIn, uid: str = "student-ada", claims: dict | None = None) -> str:
    """Signs in over HTTP with an unsigned custom token (no keys given: any is accepted)."""
    token = unsigned_jwt({"uid": uid, "claims": claims or {}})
    response = httpx.post(
        f"http://{standin.address}/identitytoolkit.googleapis.com/v1/accounts:signInWithCustomToken?key=k",
        json={"token": token, "returnSecureToken": True},
    )
    assert response.status_code == 200, response.text
    return response.json()["idToken"]


def test_the_server_says_hello_and_answers_pings(standin):
    client = Client(standin)

    hello = client.hello["d"]
    client.endpoint.send_text(json.dumps({"t": "c", "d": {"t": "p", "d": {}}}))

    assert client.hello["t"] == "c" and hello["t"] == "h"
    assert hello["d"]["v"] == "5" and hello["d"]["h"] == standin.address and hello["d"]["s"]
    assert abs(hello["d"]["ts"] - time.time() * 1000) < 5000
    assert client.next_message() == {"t": "c", "d": {"t": "o", "d": {}}}
    assert standin.socket_count == 1


def test_a_request_split_into_counted_frames_is_understood_and_keepalives_are_ignored(standin):
    client = Client(standin)
    value = "x" * (2 * MAX_FRAME_CHARS + 10)
    text = json.dumps({"t": "d", "d": {"r": 1, "a": "p", "b": {"p": "/big", "d": value}}})
    pieces = [text[i : i + MAX_FRAME_CHARS] for i in range(0, len(text), MAX_FRAME_CHARS)]

    client.endpoint.send_text("0")
    client.endpoint.send_text(str(len(pieces)))
    for piece in pieces:
        client.endpoint.send_text(piece)

    assert client.answer(1) == {"s": "ok", "d": ""}
    assert standin.data(NS, "/big") == value


def test_a_listen_gets_the_value_before_its_answer_then_every_write(standin):
    standin.seed(NS, "/sessions/S1", {"seq": 1})
    client = Client(standin)

    answer = client.request("q", {"p": "/sessions/S1", "h": ""})
    standin.update(NS, ("sessions", "S1"), {"seq": 2, "answers/ada": "A"})
    standin.write(NS, (), None)

    assert answer == {"s": "ok", "d": {}}
    assert client.push() == {"t": "d", "d": {"a": "d", "b": {"p": "sessions/S1", "d": {"seq": 1}}}}
    assert client.push()["d"] == {"a": "m", "b": {"p": "sessions/S1", "d": {"seq": 2, "answers/ada": "A"}}}
    assert client.push()["d"] == {"a": "d", "b": {"p": "sessions/S1", "d": None}}
    assert standin.request_counts()["WS_LISTEN"] == 1


def test_an_expiring_id_token_gets_the_socket_an_expired_token_push(standin):
    # Expiry is counted in whole seconds from the issuing second: 1 could already be over.
    standin.auth.id_token_seconds = 2
    client = Client(standin)

    answer = client.request("auth", {"cred": id_token(standin, claims={"session": "S1"})})
    revoked = client.push(timeout=5)

    assert answer["s"] == "ok"
    assert answer["d"]["auth"]["session"] == "S1" and answer["d"]["auth"]["sub"] == "student-ada"
    assert revoked["d"] == {"a": "ac", "b": {"s": "expired_token", "d": "Auth token is expired."}}
    client.request("p", {"p": "/after", "d": 1})
    assert list(standin.socket_requests)[-1] == ("p", NS, "/after", None)


def test_a_token_the_stand_in_never_issued_is_an_invalid_token(standin):
    client = Client(standin)

    forged = client.request("auth", {"cred": unsigned_jwt({"sub": "student-ada", "iat": 1, "exp": 2**40})})
    client.request("s", {"c": {"sdk.js.13-2-0": 1}})

    assert forged["s"] == "invalid_token"
    assert [entry["status"] for entry in standin.socket_auths] == ["invalid_token"]
    assert standin.socket_uids() == []
    assert standin.request_counts()["WS_STATS"] == 1


def test_revoke_auth_tells_authenticated_sockets_only(standin):
    signed_in, anonymous = Client(standin), Client(standin)
    signed_in.request("auth", {"cred": id_token(standin)})

    standin.revoke_auth()
    anonymous.request("s", {})

    assert signed_in.push()["d"]["a"] == "ac"
    assert anonymous.pushes == []
    assert [s["uid"] for s in standin.sockets()] == [None, None]


def test_cancel_listeners_sends_c_to_socket_listens(standin):
    client = Client(standin)
    client.request("q", {"p": "/sessions/S1", "h": ""})
    client.push()

    assert standin.cancel_listeners(NS, "/sessions") == 1

    assert client.push()["d"] == {"a": "c", "b": {"p": "sessions/S1"}}
    assert standin.listener_count == 0


def test_a_filtered_query_is_refused_clearly(standin):
    client = Client(standin)

    answer = client.request("q", {"p": "/scores", "q": {"l": 10, "vf": "r", "i": "points"}, "t": 1, "h": ""})

    assert answer["s"] == "query_not_supported"
    assert "filtered" in answer["d"]


def test_a_put_with_the_current_hash_is_applied_and_a_stale_one_refused(standin):
    standin.seed(NS, "/counter", {"n": 1, "label": "a"})
    client = Client(standin)

    stale = client.request("p", {"p": "/counter", "d": {"n": 9}, "h": node_hash({"n": 0, "label": "a"})})
    fresh = client.request("p", {"p": "/counter", "d": {"n": 2}, "h": node_hash({"n": 1, "label": "a"})})
    from_nothing = client.request("p", {"p": "/new", "d": 1, "h": ""})

    assert stale["s"] == "datastale" and fresh["s"] == "ok" and from_nothing["s"] == "ok"
    assert standin.data(NS, "/counter") == {"n": 2}


def test_on_disconnect_operations_run_in_order_when_the_socket_closes_and_cancel_removes_them(standin):
    standin.seed(NS, "/presence", {"ada": "online", "bob": "online"})
    client = Client(standin)
    client.request("o", {"p": "/presence/ada", "d": "offline"})
    client.request("om", {"p": "/presence", "d": {"bob": "offline", "last/seen": {".sv": "timestamp"}}})
    client.request("o", {"p": "/presence/cyd", "d": "gone"})
    client.request("oc", {"p": "/presence/cyd", "d": None})
    assert standin.data(NS, "/presence/ada") == "online"

    client.endpoint.close()

    wait_until(lambda: standin.socket_count == 0, timeout=5, what="every socket to close", interval=0.02)
    presence = standin.data(NS, "/presence")
    assert presence["ada"] == "offline" and presence["bob"] == "offline"
    assert "cyd" not in presence and isinstance(presence["last"]["seen"], int)


@pytest.mark.parametrize("mode", ["refuse", "drop", "hang"])
def test_going_down_closes_open_sockets(standin, mode):
    client = Client(standin)
    client.request("q", {"p": "/x", "h": ""})

    standin.go_down(mode)
    try:
        with pytest.raises((websocket.ConnectionClosed, OSError)):
            client.push(timeout=5)
            client.push(timeout=5)
        wait_until(lambda: standin.socket_count == 0, timeout=5, what="every socket to close", interval=0.02)
    finally:
        standin.come_up()


def test_a_get_without_an_upgrade_is_a_clear_400(standin):
    response = httpx.get(f"http://{standin.address}/.ws?ns={NS}&v=5")

    assert response.status_code == 400
    assert "upgrade" in response.json()["error"].lower()


def test_the_refresh_endpoint_refuses_an_unknown_refresh_token(standin):
    response = httpx.post(
        f"http://{standin.address}/securetoken.googleapis.com/v1/token?key=k",
        data={"grant_type": "refresh_token", "refresh_token": "nope"},
    )

    assert response.status_code == 400
    assert response.json()["error"]["message"] == "INVALID_REFRESH_TOKEN"
