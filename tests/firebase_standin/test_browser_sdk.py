"""The vendored Firebase JS SDK (13.2.0), in real Chromium, against the stand-in: Auth emulator
sign-in with custom tokens that the real firebase-admin mints, and the Realtime Database over
each of the SDK's transports (WebSocket, long polling, and its own choice between them), side by
side with firebase-admin's REST traffic."""

from __future__ import annotations

import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import firebase_admin
import pytest
from firebase_admin import auth, credentials, db
from playwright.sync_api import Page

from tests.firebase_standin.credentials import public_key_pem, service_account_info
from tests.firebase_standin.fixtures import (
    FIREBASE_TEST_NAMESPACE,
    EventRecorder,
    shared_service_account_info,
)
from tests.firebase_standin.server import StandIn
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
PAGE = Path(__file__).with_name("sdk_page.html")
VENDOR_PREFIX = "/static/vendor/firebase/13.2.0/"
BIG = 40_000  # characters: more than two of the SDK's 16384-character frames, many long-poll pieces
# The database tests run once per transport the SDK can be pinned to.
EACH_TRANSPORT = pytest.mark.parametrize("transport", ["websocket", "long_polling"])


class _PageFiles(SimpleHTTPRequestHandler):
    """Serves the test page and the vendored SDK, nothing else of the repository."""

    def do_GET(self) -> None:
        if self.path.split("?")[0] == "/sdk.html":
            body = PAGE.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path.startswith(VENDOR_PREFIX) and ".." not in self.path:
            super().do_GET()
        else:
            self.send_error(404)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def page_origin() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_PageFiles, directory=str(ROOT)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def open_page(browser, page_origin) -> Iterator[Callable[[StandIn], Page]]:
    """Opens the SDK page against a stand-in, in a fresh browser context, with the SDK pinned to
    one transport (``websocket``, ``long_polling``) or (None) left to choose."""
    contexts = []

    def open_(standin: StandIn, transport: str | None = "websocket") -> Page:
        context = browser.new_context()
        contexts.append(context)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        pinned = f"&transport={transport}" if transport else ""
        if os.environ.get("SDK_LOG"):
            pinned += "&log=1"
            page.on("console", lambda m: print(f"{time.monotonic():.3f} {m.text[:300]}"))
        page.goto(f"{page_origin}/sdk.html?port={standin.port}{pinned}")
        page.wait_for_function("window.ready === true")
        page.page_errors = errors
        return page

    yield open_
    for context in contexts:
        context.close()


@pytest.fixture
def admin_app(firebase_standin, firebase_service_account) -> Iterator[firebase_admin.App]:
    """firebase-admin with the throwaway service account: mints custom tokens, and its database
    calls go to the stand-in (FIREBASE_DATABASE_EMULATOR_HOST)."""
    app = firebase_admin.initialize_app(
        credentials.Certificate(str(firebase_service_account)),
        options={"databaseURL": f"https://{FIREBASE_TEST_NAMESPACE}.firebaseio.com"},
        name=f"sdk-{uuid.uuid4().hex}",
    )
    yield app
    firebase_admin.delete_app(app)


def custom_token(app: firebase_admin.App, uid: str, claims: dict[str, Any] | None = None) -> str:
    return auth.create_custom_token(uid, claims, app=app).decode()


def wait_values(page: Page, path: str, predicate: str = "values.length > 0", timeout: float = 10) -> list:
    """Waits until the page's recorded values at ``path`` satisfy a JS predicate on ``values``."""
    page.wait_for_function(
        f"(path) => {{ const values = window.t.values[path] || []; return {predicate}; }}",
        arg=path,
        timeout=timeout * 1000,
    )
    return page.evaluate("(path) => window.t.values[path]", path)


def test_signing_in_with_an_admin_minted_custom_token_gives_that_uid_and_its_claims(
    firebase_standin, admin_app, open_page
):
    page = open_page(firebase_standin)
    token = custom_token(admin_app, "student-ada", {"session": "S1", "role": "student"})

    user = page.evaluate("(token) => window.t.signIn(token)", token)

    assert user["uid"] == "student-ada"
    claims = user["claims"]
    assert claims["session"] == "S1" and claims["role"] == "student"
    assert claims["iss"] == "https://securetoken.google.com/peardeck-test"
    assert claims["aud"] == "peardeck-test"
    assert claims["firebase"]["sign_in_provider"] == "custom"
    counts = firebase_standin.request_counts()
    assert counts["AUTH_SIGN_IN"] == 1 and counts["AUTH_LOOKUP"] >= 1
    assert page.page_errors == []


def test_a_custom_token_from_an_unknown_key_is_refused_as_invalid(firebase_standin, open_page):
    page = open_page(firebase_standin)
    stranger = firebase_admin.initialize_app(
        credentials.Certificate(service_account_info()), name=f"stranger-{uuid.uuid4().hex}"
    )
    try:
        forged = custom_token(stranger, "student-ada")
    finally:
        firebase_admin.delete_app(stranger)

    error = page.evaluate("(token) => window.t.signInError(token)", forged)
    garbage = page.evaluate("() => window.t.signInError('not-a-jwt')")

    assert error["code"] == "auth/invalid-custom-token"
    assert "signature" in error["message"]
    assert garbage["code"] == "auth/invalid-custom-token"
    assert firebase_standin.auth.issued(page.evaluate("() => window.t.token()")) is None


@EACH_TRANSPORT
def test_a_signed_in_listener_gets_the_value_then_admin_puts_and_multi_path_updates(
    firebase_standin, admin_app, open_page, transport
):
    page = open_page(firebase_standin, transport)
    db.reference("/sessions/S1", app=admin_app).set({"seq": 1, "question": "2+2?"})
    page.evaluate("(token) => window.t.signIn(token)", custom_token(admin_app, "student-ada"))

    page.evaluate("() => window.t.listen('/sessions/S1')")
    first = wait_values(page, "/sessions/S1")
    db.reference("/sessions/S1/seq", app=admin_app).set(2)
    wait_values(page, "/sessions/S1", "values.length > 0 && values.at(-1).seq === 2")
    db.reference("/", app=admin_app).update({"sessions/S1/seq": 3, "sessions/S1/answers/ada": "4"})
    values = wait_values(page, "/sessions/S1", "values.at(-1).seq === 3")

    assert first[0] == {"seq": 1, "question": "2+2?"}
    assert values[-1] == {"seq": 3, "question": "2+2?", "answers": {"ada": "4"}}
    assert firebase_standin.request_counts()["WS_LISTEN"] == 1
    assert firebase_standin.socket_uids() == ["student-ada"]
    assert [s["listens"] for s in firebase_standin.sockets()] == [["/sessions/S1"]]


@EACH_TRANSPORT
def test_a_browser_set_lands_in_the_database_and_reaches_an_admin_listener(
    firebase_standin, admin_app, open_page, transport
):
    page = open_page(firebase_standin, transport)
    page.evaluate("(token) => window.t.signIn(token)", custom_token(admin_app, "student-ada"))
    recorder = EventRecorder()
    registration = db.reference("/sessions/S1/answers", app=admin_app).listen(recorder)
    try:
        recorder.wait_for_count(1)
        page.evaluate("() => window.t.set('/sessions/S1/answers/student-ada', {choice: 'B', at: 5})")

        recorder.wait_for(lambda events: any(e[2] == {"choice": "B", "at": 5} for e in events))
    finally:
        registration.close()
    assert firebase_standin.data(FIREBASE_TEST_NAMESPACE, "/sessions/S1/answers") == {
        "student-ada": {"choice": "B", "at": 5}
    }
    assert ("p", FIREBASE_TEST_NAMESPACE, "/sessions/S1/answers/student-ada", "student-ada") in list(
        firebase_standin.socket_requests
    )
    assert firebase_standin.request_counts()["WS_PUT"] == 1


@EACH_TRANSPORT
def test_values_bigger_than_one_frame_travel_both_ways(firebase_standin, admin_app, open_page, transport):
    page = open_page(firebase_standin, transport)
    page.evaluate("(token) => window.t.signIn(token)", custom_token(admin_app, "student-ada"))
    down = "é" + "d" * BIG + "€"
    up = "u" * BIG + "😀"

    db.reference("/big/down", app=admin_app).set(down)
    page.evaluate("() => window.t.listen('/big/down')")
    received = wait_values(page, "/big/down", "values.length > 0 && values.at(-1) !== null")
    page.evaluate("(value) => window.t.set('/big/up', value)", up)

    assert received[-1] == down
    assert firebase_standin.data(FIREBASE_TEST_NAMESPACE, "/big/up") == up


@EACH_TRANSPORT
def test_a_browser_update_merges_several_paths_at_once(firebase_standin, admin_app, open_page, transport):
    page = open_page(firebase_standin, transport)
    page.evaluate("(token) => window.t.signIn(token)", custom_token(admin_app, "student-ada"))
    db.reference("/sessions/S1", app=admin_app).set({"seq": 1, "keep": True})
    recorder = EventRecorder()
    registration = db.reference("/sessions/S1", app=admin_app).listen(recorder)
    try:
        recorder.wait_for_count(1)
        page.evaluate("() => window.t.update('/sessions/S1', {seq: 2, 'answers/ada': 'A'})")
        recorder.wait_for(lambda events: any(e[0] == "patch" for e in events))
    finally:
        registration.close()

    assert firebase_standin.data(FIREBASE_TEST_NAMESPACE, "/sessions/S1") == {
        "seq": 2,
        "keep": True,
        "answers": {"ada": "A"},
    }
    assert firebase_standin.request_counts()["WS_MERGE"] == 1


@EACH_TRANSPORT
def test_a_browser_transaction_commits_because_the_stand_in_hashes_values_as_the_sdk_does(
    firebase_standin, admin_app, open_page, transport
):
    page = open_page(firebase_standin, transport)
    mixed = {
        "count": 5,
        "label": "é€",
        "flag": True,
        "ratio": 0.1,
        "10": "ten",
        "9": "nine",
        "deep": {"a": [1, 2]},
    }
    db.reference("/counter", app=admin_app).set(mixed)

    result = page.evaluate("() => window.t.bump('/counter')")

    assert result["committed"] is True
    assert firebase_standin.data(FIREBASE_TEST_NAMESPACE, "/counter") == {**mixed, "count": 6}
    # A wrong hash would be refused as stale until the SDK gave up (25 tries).
    assert firebase_standin.request_counts()["WS_PUT"] <= 2


@EACH_TRANSPORT
def test_on_disconnect_is_applied_when_the_page_closes(firebase_standin, admin_app, open_page, transport):
    page = open_page(firebase_standin, transport)
    page.evaluate("(token) => window.t.signIn(token)", custom_token(admin_app, "student-ada"))
    page.evaluate("() => window.t.set('/presence/student-ada', 'online')")
    page.evaluate("() => window.t.onDisconnectSet('/presence/student-ada', 'offline')")
    assert firebase_standin.data(FIREBASE_TEST_NAMESPACE, "/presence/student-ada") == "online"

    page.close()

    wait_until(
        lambda: firebase_standin.data(FIREBASE_TEST_NAMESPACE, "/presence/student-ada") == "offline",
        what="the onDisconnect set",
    )
    wait_until(lambda: firebase_standin.socket_count == 0)
    if transport == "long_polling":
        # The hidden frame said goodbye as the page went: no waiting for the polls to stop.
        assert firebase_standin.request_counts()["LP_DISCONNECT"] == 1


def test_after_the_database_goes_down_and_comes_up_the_listener_resumes_with_the_new_value(
    firebase_standin, admin_app, open_page
):
    page = open_page(firebase_standin, "websocket")
    page.evaluate("(token) => window.t.signIn(token)", custom_token(admin_app, "student-ada"))
    db.reference("/sessions/S1/seq", app=admin_app).set(1)
    page.evaluate("() => window.t.listen('/sessions/S1/seq')")
    wait_values(page, "/sessions/S1/seq", "values.at(-1) === 1")

    attempts = page.evaluate("window.socketAttempts")

    firebase_standin.go_down("refuse")
    page.wait_for_function("window.t.connected.at(-1) === false", timeout=10_000)
    # At least one reconnection fails while down: the SDK remembers that (localStorage) and
    # would try long polling first from then on, but for forceWebSockets().
    page.wait_for_function(f"window.socketAttempts > {attempts}", timeout=10_000)
    firebase_standin.seed(FIREBASE_TEST_NAMESPACE, "/sessions/S1/seq", 2)
    firebase_standin.come_up()

    # The SDK waits a random part of its back-off (at most a few seconds here) before retrying.
    wait_values(page, "/sessions/S1/seq", "values.at(-1) === 2", timeout=20)
    page.wait_for_function("window.t.connected.at(-1) === true", timeout=10_000)
    assert firebase_standin.socket_uids() == ["student-ada", "student-ada"]
    assert firebase_standin.request_counts()["WS_CONNECT"] == 2


def test_left_to_choose_the_sdk_comes_back_on_long_polling_then_moves_to_a_websocket(
    firebase_standin, admin_app, open_page
):
    page = open_page(firebase_standin, None)
    page.evaluate("(token) => window.t.signIn(token)", custom_token(admin_app, "student-ada"))
    db.reference("/sessions/S1/seq", app=admin_app).set(1)
    page.evaluate("() => window.t.listen('/sessions/S1/seq')")
    wait_values(page, "/sessions/S1/seq", "values.at(-1) === 1")
    assert [s["transport"] for s in firebase_standin.sockets()] == ["websocket"]

    firebase_standin.go_down("refuse")
    page.wait_for_function("window.t.connected.at(-1) === false", timeout=10_000)
    # Its next try fails too; from then on it starts with long polling.
    page.wait_for_function("localStorage.getItem('firebase:previous_websocket_failure') === 'true'")
    firebase_standin.seed(FIREBASE_TEST_NAMESPACE, "/sessions/S1/seq", 2)
    firebase_standin.come_up()

    wait_values(page, "/sessions/S1/seq", "values.at(-1) === 2", timeout=20)
    # It offers the session a WebSocket at once and moves there: long polling closes itself.
    wait_until(
        lambda: (
            [s["transport"] for s in firebase_standin.sockets()] == ["websocket"]
            and firebase_standin.request_counts().get("LP_CONNECT", 0) == 1
        ),
        timeout=10,
        what="the session to move to a WebSocket",
    )
    page.wait_for_function("window.t.longPolling() === false", timeout=10_000)
    page.evaluate("() => window.t.set('/after/move', 'socket')")
    assert firebase_standin.data(FIREBASE_TEST_NAMESPACE, "/after/move") == "socket"
    assert page.evaluate("localStorage.getItem('firebase:previous_websocket_failure')") is None
    assert page.page_errors == []


def test_on_long_polling_the_listener_resumes_after_the_database_comes_back(
    firebase_standin, admin_app, open_page
):
    page = open_page(firebase_standin, "long_polling")
    page.evaluate("(token) => window.t.signIn(token)", custom_token(admin_app, "student-ada"))
    db.reference("/sessions/S1/seq", app=admin_app).set(1)
    page.evaluate("() => window.t.listen('/sessions/S1/seq')")
    wait_values(page, "/sessions/S1/seq", "values.at(-1) === 1")

    firebase_standin.go_down("refuse")
    page.wait_for_function("window.t.connected.at(-1) === false", timeout=10_000)
    firebase_standin.seed(FIREBASE_TEST_NAMESPACE, "/sessions/S1/seq", 2)
    firebase_standin.come_up()

    wait_values(page, "/sessions/S1/seq", "values.at(-1) === 2", timeout=20)
    assert firebase_standin.socket_uids() == ["student-ada", "student-ada"]
    assert firebase_standin.request_counts()["LP_CONNECT"] == 2
    assert firebase_standin.request_counts().get("WS_CONNECT", 0) == 0
    assert page.page_errors == []


def test_with_every_websocket_stopped_the_sdk_settles_on_long_polling(firebase_standin, admin_app, open_page):
    page = open_page(firebase_standin, None)
    page.context.route_web_socket(re.compile(".*"), lambda socket: socket.close())
    page.reload()
    page.wait_for_function("window.ready === true")
    db.reference("/sessions/S1", app=admin_app).set({"seq": 1})
    page.evaluate("(token) => window.t.signIn(token)", custom_token(admin_app, "student-ada"))

    page.evaluate("() => window.t.listen('/sessions/S1')")
    wait_values(page, "/sessions/S1", "values.at(-1) !== null", timeout=20)
    page.evaluate("() => window.t.set('/sessions/S1/answers/student-ada', 'B')")

    assert firebase_standin.data(FIREBASE_TEST_NAMESPACE, "/sessions/S1") == {
        "seq": 1,
        "answers": {"student-ada": "B"},
    }
    assert [(s["transport"], s["uid"]) for s in firebase_standin.sockets()] == [
        ("long_polling", "student-ada")
    ]
    assert page.evaluate("window.t.longPolling()") is True
    assert page.page_errors == []


@EACH_TRANSPORT
def test_a_short_id_token_lifetime_makes_the_sdk_refresh_and_the_socket_re_authenticate(
    admin_app, open_page, transport
):
    # The SDK counts a token as stale 5 minutes before it expires: 302 s makes it refresh after ~2 s.
    short = StandIn(
        project_id=FIREBASE_TEST_NAMESPACE,
        custom_token_keys=[public_key_pem(shared_service_account_info())],
        id_token_seconds=302,
    ).start()
    try:
        page = open_page(short, transport)
        page.evaluate("(token) => window.t.signIn(token)", custom_token(admin_app, "student-ada"))
        page.evaluate("() => window.t.listen('/sessions/S1')")
        wait_values(page, "/sessions/S1")

        wait_until(lambda: short.request_counts().get("AUTH_REFRESH", 0) >= 1, timeout=15)
        auths = wait_until(
            lambda: [a for a in short.socket_auths if a["status"] == "ok"][1:] or None,
            timeout=10,
            what="the socket to authenticate again",
        )
        first = short.socket_auths[0]
        assert auths[0]["session"] == first["session"], "re-authenticated on the same socket"
        assert auths[0]["uid"] == "student-ada"
        assert auths[0]["claims"]["iat"] >= first["claims"]["iat"]
    finally:
        short.stop()


@EACH_TRANSPORT
def test_revoking_auth_makes_the_sdk_reconnect_with_a_refreshed_token(
    firebase_standin, admin_app, open_page, transport
):
    page = open_page(firebase_standin, transport)
    page.evaluate("(token) => window.t.signIn(token)", custom_token(admin_app, "student-ada"))
    page.evaluate("() => window.t.listen('/sessions/S1')")
    wait_values(page, "/sessions/S1")
    wait_until(lambda: firebase_standin.socket_uids() == ["student-ada"])

    firebase_standin.revoke_auth()

    wait_until(lambda: firebase_standin.socket_uids() == ["student-ada", "student-ada"], timeout=15)
    assert firebase_standin.request_counts().get("AUTH_REFRESH", 0) >= 1
    sessions = [a["session"] for a in firebase_standin.socket_auths if a["status"] == "ok"]
    assert sessions[0] != sessions[1], "the SDK answers 'ac' by reconnecting"


@EACH_TRANSPORT
def test_a_socket_that_never_signed_in_is_served_but_records_no_uid(firebase_standin, open_page, transport):
    page = open_page(firebase_standin, transport)

    page.evaluate("() => window.t.set('/open/door', 'ajar')")

    assert firebase_standin.data(FIREBASE_TEST_NAMESPACE, "/open/door") == "ajar"
    assert ("p", FIREBASE_TEST_NAMESPACE, "/open/door", None) in list(firebase_standin.socket_requests)
    assert firebase_standin.socket_uids() == []
    assert [s["uid"] for s in firebase_standin.sockets()] == [None]
