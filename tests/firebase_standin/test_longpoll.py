"""The stand-in's long-polling transport (``/.lp``), spoken by hand: the parts a browser can't show
quickly or at all (pieces out of order, serials, keep-alives, expiry, the switch to a WebSocket).
The browser SDK's own use of it is in test_browser_sdk.py."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.firebase_standin import StandIn, websocket
from tests.firebase_standin.longpoll import encode_message
from tests.firebase_standin.test_realtime import id_token
from tests.support.waiting import wait_until

NS = "peardeck-test"
PIECE = 1840  # the SDK's largest piece of a message
CALL = re.compile(r"^(pLPCommand|pRTLPCB)\((.*)\);$")


def calls(script: str) -> list[tuple[str, list[Any]]]:
    """The callbacks a script makes, in order (the function definitions of the start skipped)."""
    found = []
    for line in script.splitlines():
        match = CALL.match(line.strip())
        if match:
            found.append((match[1], json.loads(f"[{match[2]}]")))
    return found


class LongPollClient:
    """What BrowserPollConnection does, minus the browser: start, polls with pieces, answers
    collected by number."""

    def __init__(self, standin: StandIn, callback_id: str = "7") -> None:
        self.base = f"http://{standin.address}/.lp"
        self.http = httpx.Client(timeout=30)
        self.start_script = self.get(start="t", ser=5, cb=callback_id, v=5, ns=NS).text
        start = calls(self.start_script)
        assert start[0][0] == "pLPCommand" and start[0][1][0] == "start", start
        self.id, self.password = start[0][1][1:3]
        self.answers: dict[int, list[dict[str, Any]]] = {}
        self.commands: list[list[Any]] = []
        self._note(self.start_script)
        self.serial = 100
        self.piece = 0
        self.number = 0

    def get(self, **params: Any) -> httpx.Response:
        return self.http.get(self.base, params=params)

    def _note(self, script: str) -> None:
        for name, arguments in calls(script):
            if name == "pRTLPCB":
                self.answers[arguments[0]] = arguments[1]
            else:
                self.commands.append(arguments)

    def pieces(self, message: dict[str, Any]) -> list[tuple[int, int, str]]:
        encoded = encode_message(message)
        chunks = [encoded[i : i + PIECE] for i in range(0, len(encoded), PIECE)]
        numbered = [(self.piece + i, len(chunks), chunk) for i, chunk in enumerate(chunks)]
        self.piece += len(chunks)
        return numbered

    def poll(self, pieces: list[tuple[int, int, str]] = (), serial: int | None = None) -> str:
        if serial is None:
            self.serial += 1
            serial = self.serial
        params: dict[str, Any] = {"id": self.id, "pw": self.password, "ser": serial, "ns": NS}
        for index, (number, total, data) in enumerate(pieces):
            params |= {f"seg{index}": number, f"ts{index}": total, f"d{index}": data}
        response = self.get(**params)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/javascript")
        self._note(response.text)
        return response.text

    def messages(self) -> list[dict[str, Any]]:
        """Every message answered so far, in answer order (as PacketReceiver runs them)."""
        return [message for number in sorted(self.answers) for message in self.answers[number]]

    def request(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        self.number += 1
        number = self.number
        self.poll(self.pieces({"t": "d", "d": {"r": number, "a": action, "b": body}}))
        return self.answer(number)

    def answer(self, number: int) -> dict[str, Any]:
        deadline = time.monotonic() + 10
        while True:
            for message in self.messages():
                if message["t"] == "d" and message["d"].get("r") == number:
                    return message["d"]["b"]
            assert time.monotonic() < deadline, f"no answer {number} in {self.answers}"
            self.poll()

    def pushes(self) -> list[dict[str, Any]]:
        return [m["d"] for m in self.messages() if m["t"] == "d" and "r" not in m["d"]]


@pytest.fixture
def standin() -> Iterator[StandIn]:
    with StandIn(project_id=NS, long_poll_seconds=0.5, long_poll_idle_seconds=1.5) as standin:
        yield standin


def test_the_start_script_hands_the_page_its_callbacks_id_password_and_the_hello(standin):
    client = LongPollClient(standin, callback_id="12")

    script = client.start_script
    hello = client.answers[0][0]

    # The frame's functions hand everything to the page's pLPCommand12 / pRTLPCB12.
    assert "parent.window['pLPCommand12']" in script and "parent.window['pRTLPCB12']" in script
    assert script.index('pLPCommand("start"') < script.index("pRTLPCB(0,")
    assert re.fullmatch(r"[0-9a-f]{16}", client.password)
    assert hello["t"] == "c" and hello["d"]["t"] == "h"
    assert hello["d"]["d"]["v"] == "5" and hello["d"]["d"]["s"] == client.id
    assert [s["transport"] for s in standin.sockets()] == ["long_polling"]
    assert standin.request_counts()["LP_CONNECT"] == 1


def test_a_callback_id_that_is_not_a_plain_name_is_refused(standin):
    response = httpx.get(f"http://{standin.address}/.lp", params={"start": "t", "ser": 1, "cb": "1;alert(1)"})

    assert response.status_code == 400
    assert standin.socket_count == 0


def test_requests_and_answers_travel_over_polls_and_reach_the_same_database(standin):
    standin.seed(NS, "/sessions/S1", {"seq": 1})
    client = LongPollClient(standin)

    listen = client.request("q", {"p": "/sessions/S1", "h": ""})
    put = client.request("p", {"p": "/sessions/S1/answers/ada", "d": "B"})
    standin.update(NS, ("sessions", "S1"), {"seq": 2})
    wait_until(lambda: client.poll() and len(client.pushes()) >= 3, timeout=5, what="the pushes")

    assert listen == {"s": "ok", "d": {}} and put == {"s": "ok", "d": ""}
    assert client.pushes() == [
        {"a": "d", "b": {"p": "sessions/S1", "d": {"seq": 1}}},
        {"a": "d", "b": {"p": "sessions/S1/answers/ada", "d": "B"}},
        {"a": "m", "b": {"p": "sessions/S1", "d": {"seq": 2}}},
    ]
    assert standin.data(NS, "/sessions/S1") == {"seq": 2, "answers": {"ada": "B"}}
    assert sorted(client.answers) == list(range(len(client.answers))), "answers numbered from 0 without gaps"
    assert standin.request_counts()["WS_PUT"] == 1


def test_a_message_split_over_several_polls_out_of_order_runs_once_when_complete(standin):
    client = LongPollClient(standin)
    value = "é" * 3000 + "😀"  # several pieces once base64 of UTF-8
    first = client.pieces({"t": "d", "d": {"r": 1, "a": "p", "b": {"p": "/big", "d": value}}})
    second = client.pieces({"t": "d", "d": {"r": 2, "a": "p", "b": {"p": "/after", "d": 1}}})
    assert len(first) >= 3 and len(second) == 1

    client.poll([second[0], first[-1]])  # the end of the first message and all of the second
    assert standin.data(NS, "/big") is None and standin.data(NS, "/after") is None
    client.poll([first[0]])
    assert standin.data(NS, "/big") is None, "a message runs only once all its pieces are in"
    client.poll([*first[1:-1], first[0]])  # the rest, and a repeat

    assert client.answer(1) == {"s": "ok", "d": ""} and client.answer(2) == {"s": "ok", "d": ""}
    assert standin.data(NS, "/big") == value and standin.data(NS, "/after") == 1
    assert standin.request_counts()["WS_PUT"] == 2


def test_an_idle_poll_is_answered_empty_after_the_hold_time_as_a_keep_alive(standin):
    client = LongPollClient(standin)

    started = time.monotonic()
    script = client.poll()
    waited = time.monotonic() - started

    assert calls(script) == []
    assert 0.4 < waited < 2.0
    assert standin.socket_count == 1


def test_only_the_poll_with_the_highest_serial_waits(standin):
    client = LongPollClient(standin)
    standin.long_poll_seconds = 5
    with ThreadPoolExecutor(2) as pool:
        older = pool.submit(client.poll, serial=200)
        wait_until(lambda: client_polls_open(standin, client) == 1, timeout=5, interval=0.01)
        started = time.monotonic()
        newer = pool.submit(client.poll, serial=201)
        assert calls(older.result(timeout=3)) == [], "the newer poll releases the older one"
        assert time.monotonic() - started < 1
        # A late poll with a lower serial than the one waiting is answered at once.
        started = time.monotonic()
        assert calls(client.poll(serial=150)) == []
        assert time.monotonic() - started < 1
        standin.seed(NS, "/x", 1)  # nobody listens: nothing to say yet
        client_request = client.pieces({"t": "d", "d": {"r": 1, "a": "g", "b": {"p": "/x"}}})
        client.poll(client_request, serial=202)
        assert calls(newer.result(timeout=3)) == []

    assert client.answer(1) == {"s": "ok", "d": 1}


def client_polls_open(standin: StandIn, client: LongPollClient) -> int:
    return standin._long_polls[client.id]._polls_open


def test_an_id_token_that_expires_gets_an_expired_token_push_over_long_polling(standin):
    # Expiry is counted in whole seconds from the issuing second: 1 could already be over.
    standin.auth.id_token_seconds = 2
    client = LongPollClient(standin)

    answer = client.request("auth", {"cred": id_token(standin, claims={"session": "S1"})})
    assert answer["s"] == "ok" and answer["d"]["auth"]["session"] == "S1"
    wait_until(lambda: client.poll() and client.pushes(), timeout=5, what="the expiry push")

    assert client.pushes() == [{"a": "ac", "b": {"s": "expired_token", "d": "Auth token is expired."}}]
    assert standin.sockets()[0]["uid"] is None


def test_an_already_expired_id_token_is_refused_as_expired(standin):
    standin.auth.id_token_seconds = 1
    token = id_token(standin)
    time.sleep(1.1)
    client = LongPollClient(standin)

    answer = client.request("auth", {"cred": token})

    assert answer["s"] == "expired_token"
    assert [entry["status"] for entry in standin.socket_auths] == ["expired_token"]
    assert standin.socket_uids() == []


def test_the_hidden_frame_says_goodbye_and_the_on_disconnect_operations_run(standin):
    standin.seed(NS, "/presence/ada", "online")
    client = LongPollClient(standin)
    client.request("o", {"p": "/presence/ada", "d": "offline"})

    frame = client.get(dframe="t", id=client.id, pw=client.password)
    goodbye = re.search(r'sendBeacon\("([^"]+)"\)', frame.text)
    assert frame.headers["content-type"].startswith("text/html") and "pagehide" in frame.text
    assert standin.data(NS, "/presence/ada") == "online"
    httpx.post(f"http://{standin.address}{goodbye[1]}")

    assert standin.data(NS, "/presence/ada") == "offline"
    assert standin.socket_count == 0
    assert calls(client.poll()) == [("pLPCommand", ["close"])]


def test_a_client_that_stops_polling_is_taken_for_gone(standin):
    client = LongPollClient(standin)
    client.request("o", {"p": "/presence/ada", "d": "offline"})

    wait_until(lambda: standin.socket_count == 0, timeout=5, what="the idle connection to end")

    assert standin.data(NS, "/presence/ada") == "offline"


def test_a_poll_with_an_unknown_id_or_a_wrong_password_is_told_to_close(standin):
    client = LongPollClient(standin)

    wrong = client.get(id=client.id, pw="0" * 16, ser=1, ns=NS)
    unknown = client.get(id="no-such-connection", pw=client.password, ser=1, ns=NS)
    broken = client.get(id=client.id, pw=client.password, ser=2, seg0=0, ts0=1, d0="not base64!")

    assert calls(wrong.text) == [("pLPCommand", ["close"])]
    assert calls(unknown.text) == [("pLPCommand", ["close"])]
    assert broken.status_code == 400
    assert standin.socket_count == 1, "a stranger's poll leaves the connection alone"


def test_going_down_tells_a_waiting_poll_to_close_and_forgets_the_connection(standin):
    client = LongPollClient(standin)
    standin.long_poll_seconds = 5
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(client.poll)
        wait_until(lambda: client_polls_open(standin, client) == 1, timeout=5, interval=0.01)
        standin.go_down("drop")
        try:
            try:
                answered = calls(waiting.result(timeout=3))
            except (httpx.HTTPError, AssertionError):
                answered = None  # the connection went first: the browser's script fails to load
            assert answered in (None, [("pLPCommand", ["close", 0])])
        finally:
            standin.come_up()
    assert standin.socket_count == 0
    assert calls(client.poll()) == [("pLPCommand", ["close"])]


def switch_socket(standin: StandIn, client: LongPollClient) -> websocket.Endpoint:
    """What the SDK does to move off long polling, up to its own "a" on the new socket."""
    socket = websocket.connect("127.0.0.1", standin.port, f"/.ws?v=5&s={client.id}&ns={NS}")
    assert json.loads(socket.receive()) == {"t": "c", "d": {"t": "a", "d": {}}}
    for _ in range(2):  # the client checks the socket with two pings
        socket.send_text(json.dumps({"t": "c", "d": {"t": "p", "d": {}}}))
        assert json.loads(socket.receive()) == {"t": "c", "d": {"t": "o", "d": {}}}
    socket.send_text(json.dumps({"t": "c", "d": {"t": "a", "d": {}}}))
    wait_until(lambda: standin.sockets()[0]["transport"] == "websocket", timeout=5, interval=0.01)
    return socket


END = {"t": "c", "d": {"t": "n", "d": {}}}


def test_a_websocket_takes_over_and_long_polling_ends_after_what_each_side_still_held(standin):
    standin.seed(NS, "/sessions/S1", {"seq": 1})
    client = LongPollClient(standin)
    client.request("q", {"p": "/sessions/S1", "h": ""})
    client.request("o", {"p": "/presence/ada", "d": "offline"})
    standin.update(NS, ("sessions", "S1"), {"seq": 2})  # queued for long polling

    socket = switch_socket(standin, client)
    standin.update(NS, ("sessions", "S1"), {"seq": 3})  # for the socket
    client.poll()

    # Long polling: the queued push, then the server's "n"; no close while the client may still
    # have something queued there.
    last = max(client.answers)
    assert client.answers[last][-1] == END
    assert {"a": "m", "b": {"p": "sessions/S1", "d": {"seq": 2}}} in client.pushes()
    assert client.commands == [["start", client.id, client.password]]
    # The client's last request over long polling, then its "n": it runs (its answer goes on the
    # socket), and the poll closes.
    client.poll(client.pieces({"t": "d", "d": {"r": 7, "a": "p", "b": {"p": "/late", "d": "lp"}}}))
    client.poll(client.pieces(END))
    assert standin.data(NS, "/late") == "lp"
    assert client.commands[-1] == ["close", max(client.answers)]
    # The socket carries the session on: same listens, same onDisconnect operations.
    received = [json.loads(socket.receive()) for _ in range(2)]
    assert received == [
        {"t": "d", "d": {"a": "m", "b": {"p": "sessions/S1", "d": {"seq": 3}}}},
        {"t": "d", "d": {"r": 7, "b": {"s": "ok", "d": ""}}},
    ]
    socket.send_text(json.dumps({"t": "d", "d": {"r": 9, "a": "p", "b": {"p": "/via", "d": "socket"}}}))
    assert json.loads(socket.receive()) == {"t": "d", "d": {"r": 9, "b": {"s": "ok", "d": ""}}}
    assert standin.data(NS, "/presence/ada") is None, "switching is not disconnecting"
    [described] = standin.sockets()
    assert described["session"] == client.id and described["listens"] == ["/sessions/S1"]

    socket.close()
    wait_until(lambda: standin.socket_count == 0, timeout=5, interval=0.02)
    assert standin.data(NS, "/presence/ada") == "offline"


def test_after_the_switch_the_socket_waits_for_what_the_client_sent_before_it_over_long_polling(standin):
    client = LongPollClient(standin)
    socket = switch_socket(standin, client)
    before = client.pieces({"t": "d", "d": {"r": 1, "a": "p", "b": {"p": "/order", "d": "sent first"}}})
    end = client.pieces(END)

    # The socket overtakes the long poll that still carries the client's earlier request.
    socket.send_text(
        json.dumps({"t": "d", "d": {"r": 2, "a": "p", "b": {"p": "/order", "d": "sent second"}}})
    )
    time.sleep(0.3)
    assert standin.data(NS, "/order") is None, "held until the long poll's last pieces are in"
    client.poll(before + end)

    assert [json.loads(socket.receive())["d"]["r"] for _ in range(2)] == [1, 2]
    assert standin.data(NS, "/order") == "sent second"


def test_a_socket_naming_no_known_session_is_closed_at_once(standin):
    socket = websocket.connect("127.0.0.1", standin.port, f"/.ws?v=5&s=nobody&ns={NS}")

    with pytest.raises(websocket.ConnectionClosed):
        socket.receive()
    assert standin.socket_count == 0


def test_polls_keep_a_connection_alive_past_the_idle_time(standin):
    client = LongPollClient(standin)
    stop = threading.Event()

    def keep_polling() -> None:
        while not stop.is_set():
            client.poll()

    poller = threading.Thread(target=keep_polling)
    poller.start()
    try:
        time.sleep(3 * standin.long_poll_idle_seconds)
        assert standin.socket_count == 1
    finally:
        stop.set()
        poller.join()


def test_a_socket_waiting_to_take_over_closes_when_the_long_polling_client_leaves(standin):
    client = LongPollClient(standin)
    socket = websocket.connect("127.0.0.1", standin.port, f"/.ws?v=5&s={client.id}&ns={NS}")
    assert json.loads(socket.receive())["d"]["t"] == "a"

    client.get(disconn="t", id=client.id, pw=client.password)

    socket.sock.settimeout(3)  # a timeout would be an OSError, not a close
    with pytest.raises(websocket.ConnectionClosed):
        socket.receive()
    assert standin.socket_count == 0
