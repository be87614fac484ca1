"""static/peardeck/client.js in Chromium, against a scripted WebSocket and HTTP (Playwright routes):
seq gaps, reconnects, refusals and the browser-metrics batch. The page is the real projector page."""

import json
import time

import pytest
from playwright.sync_api import expect

from tests.pages.conftest import page_errors

pytestmark = pytest.mark.timeout(120)


def projector_state(seq: int, students: int = 0) -> dict:
    return {
        "id": 1,
        "join_code": "ABCDEF",
        "state": "live",
        "seq": seq,
        "current_question_id": 10,
        "question": {
            "id": 10,
            "position": 0,
            "kind": "text",
            "prompt": "Scripted",
            "image_url": "",
            "config": {},
        },
        "locked": False,
        "revealed": False,
        "students": students,
        "tally": None,
    }


class ScriptedServer:
    """Answers the projector's state requests and WebSockets as the test tells it to."""

    def __init__(self, context, *, hello_seq: int = 5, close_first_with: int | None = None):
        self.sockets = []
        self.syncs = []  # what the page sent as {"type": "sync"}
        self.state_requests = []
        self.metric_batches = []
        self.hello_seq = hello_seq
        self.state = projector_state(hello_seq)  # what the HTTP state endpoint answers now
        self.close_first_with = close_first_with
        context.route_web_socket("**/ws/**", self._socket)
        context.route("**/api/projector/state*", self._state)
        context.route("**/api/browser-metrics", self._metrics)

    def _socket(self, socket):
        self.sockets.append((time.monotonic(), socket))
        socket.on_message(lambda message: self._from_page(socket, message))
        if self.close_first_with and self.close_first_with >= 4000:
            # As the server refuses: a reason, then a close code that says "do not retry".
            socket.send(json.dumps({"type": "refused", "code": "not_authenticated", "message": "Bad key."}))
            socket.close(code=self.close_first_with, reason="refused")
            return
        hello = {
            "type": "hello",
            "role": "projector",
            "seq": self.hello_seq,
            "state": projector_state(self.hello_seq),
        }
        socket.send(json.dumps(hello))
        if self.close_first_with and len(self.sockets) == 1:
            socket.close(code=self.close_first_with, reason="going away")

    def _from_page(self, socket, message):
        data = json.loads(message)
        if data.get("type") == "sync":
            self.syncs.append(data)
            socket.send(json.dumps({"type": "state", "seq": self.state["seq"], "state": self.state}))

    def _state(self, route):
        self.state_requests.append(route.request.url)
        route.fulfill(json=self.state)

    def _metrics(self, route):
        self.metric_batches.append(json.loads(route.request.post_data))
        route.fulfill(status=404, json={"error": {"code": "not_found", "message": "No such endpoint."}})


@pytest.fixture
def context(browser):
    context = browser.new_context()
    yield context
    context.close()


def open_projector(context, server):
    page = context.new_page()
    errors = page_errors(page)
    page.goto(f"{server}/projector/ABCDEF/#key=pdp_scripted")
    expect(page.locator(".projector-title")).to_have_text("Scripted")
    return page, errors


def test_an_event_that_skips_a_seq_makes_the_client_fetch_the_state_again(server, context):
    scripted = ScriptedServer(context)
    page, errors = open_projector(context, server)
    expect(page.locator("#student-count")).to_have_text("0 joined")
    before = len(scripted.state_requests)
    socket = scripted.sockets[-1][1]

    socket.send(json.dumps({"type": "student_count", "seq": 6, "students": 1}))
    expect(page.locator("#student-count")).to_have_text("1 joined")
    socket.send(json.dumps({"type": "student_count", "seq": 6, "students": 99}))  # a repeat: ignored
    page.wait_for_timeout(300)
    expect(page.locator("#student-count")).to_have_text("1 joined")
    assert len(scripted.state_requests) == before, "an in-order event must not cost a request"

    scripted.state = projector_state(8, students=7)
    socket.send(json.dumps({"type": "student_count", "seq": 8, "students": 2}))  # seq 7 was lost
    expect(page.locator("#student-count")).to_have_text("7 joined")  # the server's state, asked for
    # With the socket up the page asks over it, saying what it holds.
    assert scripted.syncs[-1]["seq"] == 6
    assert len(scripted.state_requests) == before
    assert errors == []


def test_a_going_away_close_reconnects_after_a_jittered_delay(server, context):
    scripted = ScriptedServer(context, close_first_with=1001)
    page, errors = open_projector(context, server)
    deadline = time.monotonic() + 10
    while len(scripted.sockets) < 2 and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert len(scripted.sockets) >= 2, "the client did not reconnect after 1001"
    delay = scripted.sockets[1][0] - scripted.sockets[0][0]
    assert 0.2 <= delay <= 3, f"first reconnect after {delay:.2f} s; expected 0.25 to 0.5 s plus slack"
    assert "?since=5" in scripted.sockets[1][1].url
    assert errors == []


def test_a_refused_socket_is_not_retried_and_the_page_says_why(server, context):
    scripted = ScriptedServer(context, close_first_with=4401)
    page = context.new_page()
    errors = page_errors(page)
    page.goto(f"{server}/projector/ABCDEF/#key=pdp_scripted")
    expect(page.locator("#projector-stage")).to_contain_text("out of date")
    page.wait_for_timeout(2500)
    assert len(scripted.sockets) == 1
    assert errors == []


def test_load_metrics_are_sent_in_one_batch_and_a_404_is_shrugged_off(server, context):
    scripted = ScriptedServer(context)
    page, errors = open_projector(context, server)
    deadline = time.monotonic() + 5
    while not scripted.metric_batches and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    batch = scripted.metric_batches[0]
    assert batch["app"] == "projector"
    names = {metric["name"]: metric for metric in batch["metrics"]}
    assert names["app_load"] == {"name": "app_load", "labels": {"outcome": "success"}, "value": 1}
    assert 0 < names["time_to_interactive"]["value"] < 30
    assert errors == []


def test_a_link_that_stays_down_is_reported_once_however_often_it_retries(server, context):
    """transport_connect counts bring-ups: the retries of a socket that never gets through are not
    reported again (one blocked browser must not weigh ten times in the failure ratio)."""
    tries = []
    batches = []

    def refuse(socket):
        tries.append(time.monotonic())
        socket.close()

    def take_metrics(route):
        batches.append(json.loads(route.request.post_data))
        route.fulfill(status=202, json={})

    context.route_web_socket("**/ws/**", refuse)
    context.route("**/api/projector/state*", lambda route: route.fulfill(json=projector_state(5)))
    context.route("**/api/browser-metrics", take_metrics)
    page, errors = open_projector(context, server)
    # Backoff 0.25-0.5 s, doubling: the 4th try comes within 8 s; a report sent 5 s after a
    # measurement would have carried the retries by then.
    deadline = time.monotonic() + 20
    while (len(tries) < 4 or time.monotonic() - tries[0] < 7) and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert len(tries) >= 4
    reported = [item for batch in batches for item in batch["metrics"] if item["name"] == "transport_connect"]
    assert reported == [
        {"name": "transport_connect", "labels": {"transport": "websocket", "outcome": "failed"}, "value": 1}
    ]
    assert errors == []


def test_a_server_error_and_a_missing_script_are_reported_as_client_errors(server, context):
    scripted = ScriptedServer(context)
    failures = {"state": 1}

    def flaky_state(route):
        if failures["state"]:
            failures["state"] -= 1
            route.fulfill(status=503, body="upstream unavailable")
        else:
            route.fulfill(json=scripted.state)

    context.route("**/api/projector/state*", flaky_state)
    context.route("**/static/peardeck/charts*.js", lambda route: route.fulfill(status=404, body=""))
    page = context.new_page()
    page.goto(f"{server}/projector/ABCDEF/#key=pdp_scripted")
    deadline = time.monotonic() + 15
    kinds = set()
    while {"api_error", "resource_error"} - kinds and time.monotonic() < deadline:
        page.wait_for_timeout(100)
        kinds = {
            item["labels"]["kind"]
            for batch in scripted.metric_batches
            for item in batch["metrics"]
            if item["name"] == "client_error"
        }
    assert {"api_error", "resource_error"} <= kinds, scripted.metric_batches


def revealed_projector_state(seq: int, answers_seq: int, answered: int) -> dict:
    return {
        **projector_state(seq),
        "answers_seq": answers_seq,
        "students": 9,
        "revealed": True,
        "tally": {
            "question_id": 10,
            "kind": "text",
            "students": 9,
            "answered": answered,
            "texts": ["x"] * answered,
        },
    }


def test_a_tally_that_arrives_after_a_newer_one_is_dropped(server, context):
    """Two workers send tallies built from their own snapshots; the one read earlier can arrive
    last. The projector keeps the newest by answers_seq (issue 12: a screen ending on an
    out-of-date tally)."""
    scripted = ScriptedServer(context)
    scripted.state = revealed_projector_state(5, answers_seq=10, answered=2)
    page = context.new_page()
    errors = page_errors(page)
    scripted_hello = scripted.state

    def hello_with_tally(socket):
        scripted.sockets.append((time.monotonic(), socket))
        socket.on_message(lambda message: scripted._from_page(socket, message))
        socket.send(
            json.dumps(
                {"type": "hello", "role": "projector", "seq": 5, "answers_seq": 10, "state": scripted_hello}
            )
        )

    context.route_web_socket("**/ws/**", hello_with_tally)
    page.goto(f"{server}/projector/ABCDEF/#key=pdp_scripted")
    stage = page.locator("#projector-stage")
    expect(stage).to_contain_text("2 of 9 answered")
    socket = scripted.sockets[-1][1]

    def tallies(answers_seq: int, answered: int, covers: list) -> str:
        tally = {
            "question_id": 10,
            "kind": "text",
            "students": 9,
            "answered": answered,
            "texts": ["x"] * answered,
        }
        return json.dumps(
            {"type": "tallies", "seq": 5, "answers_seq": answers_seq, "covers": covers, "tallies": [tally]}
        )

    socket.send(tallies(12, 4, [[11, 12]]))  # read after answers 11 and 12
    expect(stage).to_contain_text("4 of 9 answered")
    socket.send(tallies(11, 3, [[10, 11]]))  # read before answer 12, sent by a slower worker
    page.wait_for_timeout(500)
    expect(stage).to_contain_text("4 of 9 answered")
    assert errors == []


def test_a_dashboard_keeps_the_newest_tally_whatever_order_tallies_arrive_in(
    server, context, teacher_account
):
    """The teacher's dashboard, on the real page, with its socket scripted: a tally read before
    another but delivered after it must not replace it (issue 12: a dashboard that ended on
    [5,5,3,10] while the database had [5,6,3,10])."""
    from tests.pages.test_classroom_in_chromium import log_in
    from tests.support.classroom import ONE_CHOICE_QUESTION, open_class

    live = open_class(
        server, teacher=teacher_account, questions=ONE_CHOICE_QUESTION, students=["Ann", "Ben", "Cy"]
    )
    with live.teacher.client(server) as http:
        state = http.get(f"/sessions/{live.session_id}").json()
    question_id = live.questions[0]["id"]

    def tally(answered: int, counts: list) -> dict:
        return {
            "question_id": question_id,
            "kind": "multiple_choice",
            "students": 3,
            "answered": answered,
            "counts": counts,
        }

    hello_state = {**state, "answers_seq": 10, "tallies": [tally(1, [1, 0, 0, 0])], "responses": []}
    sockets = []

    def scripted(socket):
        sockets.append(socket)
        socket.send(
            json.dumps(
                {
                    "type": "hello",
                    "role": "teacher",
                    "seq": state["seq"],
                    "answers_seq": 10,
                    "state": hello_state,
                }
            )
        )

    context.route_web_socket("**/ws/**", scripted)
    page = context.new_page()
    errors = page_errors(page)
    log_in(page, server, teacher_account)
    page.goto(f"{server}/teach/sessions/{live.session_id}/")
    answered = page.locator("#answered")
    expect(answered).to_have_text("1 of 3 answered")

    def tallies(answers_seq: int, covers: list, **fields) -> str:
        return json.dumps(
            {
                "type": "tallies",
                "seq": state["seq"],
                "answers_seq": answers_seq,
                "covers": covers,
                "tallies": [tally(**fields)],
                "responses": [],
            }
        )

    sockets[-1].send(tallies(12, [[11, 12]], answered=3, counts=[1, 1, 1, 0]))
    expect(answered).to_have_text("3 of 3 answered")
    sockets[-1].send(tallies(11, [[10, 11]], answered=2, counts=[1, 1, 0, 0]))
    page.wait_for_timeout(500)
    expect(answered).to_have_text("3 of 3 answered")
    assert errors == []
