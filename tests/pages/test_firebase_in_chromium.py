"""Students' Firebase live link in real Chromium: the page loads the vendored Firebase JS SDK,
signs in with the custom token from the join and talks the Realtime Database protocol to our
stand-in (tests/firebase_standin), while a real gunicorn and a real `firebase_worker` process mirror
the session and take answers out of the inboxes.

The school's filter is played by Playwright: `route_web_socket` closes every WebSocket to our
server (`/ws/`), or every WebSocket to any host (the Firebase SDK then falls back to long polling,
`/.lp`), or, with its long polling aborted too, Firebase altogether.
"""

import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

import httpx
import pytest
import redis
from playwright.sync_api import expect

from tests.firebase_standin.credentials import public_key_pem, write_service_account
from tests.firebase_standin.fixtures import FIREBASE_TEST_NAMESPACE
from tests.firebase_standin.server import StandIn
from tests.pages.conftest import page_errors, seconds_until_roster_shows, watch_roster
from tests.pages.test_classroom_in_chromium import log_in
from tests.support.classroom import open_class
from tests.support.server import ROOT, free_port, fresh_postgres_database, ok, running_server
from tests.support.waiting import wait_until

pytestmark = pytest.mark.timeout(300)

PHONE = {"width": 390, "height": 844}
OUR_WEBSOCKETS = "**/ws/**"
EVERY_WEBSOCKET = re.compile(r"^wss?://")
FIREBASE_LONG_POLLING = re.compile(r"^http://127\.0\.0\.1:\d+/\.lp\?")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0").rsplit("/", 1)[0] + "/8"
WEB_CONFIG = {"apiKey": "test-api-key", "projectId": FIREBASE_TEST_NAMESPACE}


@pytest.fixture(scope="module")
def firebase_class(tmp_path_factory):
    """The stand-in, one database, one Firebase worker and two web servers on them: the default
    (WebSocket first) and Firebase mode (FIREBASE_FIRST, every student in the dark launch)."""
    tmp = tmp_path_factory.mktemp("firebase-pages")
    account = write_service_account(tmp, FIREBASE_TEST_NAMESPACE)
    info = json.loads(account.read_text())
    standin = StandIn(keepalive_seconds=1.0, custom_token_keys=[public_key_pem(info)]).start()
    # The worker is its own process: what it stores reaches the teachers' sockets through Redis,
    # as in production (with the in-memory layer it would reach nobody).
    redis.Redis.from_url(REDIS_URL).flushdb()
    env = {
        "REDIS_URL": REDIS_URL,
        "PEARDECK_VAR_DIR": str(tmp),
        "DEBUG": "false",
        "FIREBASE_DATABASE_URLS": f"https://{FIREBASE_TEST_NAMESPACE}.firebaseio.com",
        "FIREBASE_DATABASE_EMULATOR_HOST": standin.address,
        "FIREBASE_CREDENTIALS_FILE": str(account),
        "FIREBASE_WEB_CONFIG": json.dumps(WEB_CONFIG),
    }
    if os.environ.get("DATABASE_URL"):
        env["DATABASE_URL"] = fresh_postgres_database(os.environ["DATABASE_URL"], "pages_firebase")
    else:
        env["SQLITE_PATH"] = str(tmp / "pages.sqlite3")
    firebase_first = {**env, "FIREBASE_FIRST": "true", "WEBSOCKET_DARK_LAUNCH_SHARE": "1"}
    with (
        running_server(env, log_path=tmp / "gunicorn.log") as server,
        running_server(firebase_first, log_path=tmp / "gunicorn-firebase-first.log") as firebase_server,
    ):
        worker_env = {**os.environ, **env}
        worker_env.pop("DJANGO_SETTINGS_MODULE", None)
        if "DATABASE_URL" not in env:
            worker_env.pop("DATABASE_URL", None)
        worker = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "firebase_worker",
                "--interval",
                "0.1",
                "--metrics-port",
                str(free_port()),
            ],
            cwd=ROOT,
            env=worker_env,
            stdout=open(tmp / "worker.log", "wb"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )
        try:
            yield {
                "server": server,
                "firebase_server": firebase_server,
                "standin": standin,
                "worker": worker,
                "sqlite": env.get("SQLITE_PATH"),
            }
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.kill()
            standin.stop()


def live_class(server: str) -> dict:
    """A teacher (through the API) with a live session: a text question, then a number question."""
    questions = [
        {"kind": "text", "prompt": "What do leaves need?"},
        {"kind": "number", "prompt": "How many petals?", "config": {"min": 0, "max": 20}},
    ]
    live = open_class(server, title="Plants", questions=questions)
    return {"api": live.teacher.client(server), "session": live.session, "teacher": live.teacher}


class Student:
    """One student's browser: its page, its requests to our server and its metric reports."""

    def __init__(
        self,
        browser,
        server: str,
        code: str,
        name: str,
        *,
        block=(),
        block_requests=(),
        init_script: str = "",
    ):
        self.context = browser.new_context(viewport=PHONE)
        for pattern in block:
            # The school's filter: the socket is closed before it reaches anyone.
            self.context.route_web_socket(pattern, lambda socket: socket.close())
        for pattern in block_requests:
            self.context.route(pattern, lambda route: route.abort())
        if init_script:
            self.context.add_init_script(init_script)
        self.page = self.context.new_page()
        self.errors = page_errors(self.page)
        self.requests: list[tuple[str, str]] = []
        self.metric_items: list[dict] = []
        self.metric_statuses: list[int] = []
        self.page.on("request", self._note)
        self.page.on(
            "response",
            lambda response: (
                "/api/browser-metrics" in response.url and self.metric_statuses.append(response.status)
            ),
        )
        self.server = server
        self.code = code
        self.name = name

    def _note(self, request) -> None:
        path = request.url.split("://", 1)[1].split("/", 1)[1] if "://" in request.url else request.url
        self.requests.append((request.method, "/" + path.split("?", 1)[0]))
        if path.startswith("api/browser-metrics") and request.post_data:
            self.metric_items.extend(json.loads(request.post_data)["metrics"])

    def join(self) -> None:
        self.page.goto(f"{self.server}/?code={self.code}")
        self.page.get_by_label("Your name").fill(self.name)
        self.page.get_by_label("Your name").press("Enter")
        self.page.wait_for_url("**/s/")

    def saved(self) -> dict:
        return json.loads(self.page.evaluate("sessionStorage.getItem('peardeck.student')"))

    def count(self, method: str, path: str) -> int:
        return sum(1 for seen in self.requests if seen == (method, path))

    def reported(self, name: str, **labels) -> int:
        return sum(
            item["value"]
            for item in self.metric_items
            if item["name"] == name and all(item.get("labels", {}).get(k) == v for k, v in labels.items())
        )

    def wait_for_report(self, name: str, **labels) -> None:
        deadline = time.monotonic() + 15
        while not self.reported(name, **labels):
            assert time.monotonic() < deadline, f"no {name} {labels} in {self.metric_items}"
            self.page.wait_for_timeout(200)


def answers(api: httpx.Client, session_id: int) -> list[dict]:
    return ok(api.get(f"/sessions/{session_id}/responses"))["items"]


def pause(worker: subprocess.Popen, sqlite_path: str | None) -> None:
    """Stops the worker (SIGSTOP) where it holds no SQLite lock. Stopped inside a write, it would
    hold the whole database against the HTTP answer too (20 s, then an error), which no stopped
    worker does with PostgreSQL's row locks; holding the lock ourselves while the signal lands
    makes sure it is elsewhere."""
    if sqlite_path is None:
        worker.send_signal(signal.SIGSTOP)
        return
    with contextlib.closing(sqlite3.connect(sqlite_path, timeout=30, isolation_level=None)) as database:
        database.execute("BEGIN EXCLUSIVE")  # waits for the worker's reads and writes to end
        try:
            worker.send_signal(signal.SIGSTOP)
        finally:
            database.execute("ROLLBACK")


def firebase_session(standin: StandIn, uid: str) -> dict:
    """The stand-in's open connection for this student (whichever transport carries it)."""
    return wait_until(
        lambda: next((entry for entry in standin.sockets() if entry["uid"] == uid), None),
        timeout=10,
        what=f"a Firebase connection signed in as {uid}",
    )


def test_a_student_whose_websocket_is_blocked_lives_and_answers_through_firebase(firebase_class, browser):
    server, standin = firebase_class["server"], firebase_class["standin"]
    teacher = live_class(server)
    session = teacher["session"]
    student = Student(browser, server, session["join_code"], "Rosalind", block=[OUR_WEBSOCKETS])
    student.join()
    expect(student.page.locator("#connection")).to_have_text("● live (Firebase)", timeout=20_000)
    assert student.saved()["firebase"]["uid"] in standin.socket_uids()
    expect(student.page.get_by_role("heading", name="What do leaves need?")).to_be_visible()

    # The class moves on: the page learns it from the mirror, without asking our server.
    state_reads = student.count("GET", "/api/student/state")
    ok(teacher["api"].post(f"/sessions/{session['id']}/next"))
    expect(student.page.get_by_role("heading", name="How many petals?")).to_be_visible(timeout=10_000)
    assert student.count("GET", "/api/student/state") == state_reads

    # The answer goes into the student's inbox; the worker stores it and acknowledges, and the
    # teacher's dashboard shows it within a second.
    dashboard = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
    log_in(dashboard, server, teacher["teacher"])
    dashboard.goto(f"{server}/teach/sessions/{session['id']}/")
    expect(dashboard.locator(".roster-row")).to_have_count(1)
    watch_roster(dashboard)
    started_ms = time.time() * 1000
    student.page.get_by_label("How many petals?").fill("5")
    student.page.get_by_role("button", name="Send").click()
    expect(student.page.locator("#student-status")).to_contain_text("Sent", timeout=10_000)
    seconds_to_sent = time.time() - started_ms / 1000
    seconds_to_dashboard = seconds_until_roster_shows(dashboard, "Rosalind", "5", started_ms)
    assert student.count("POST", "/api/student/responses") == 0
    stored = answers(teacher["api"], session["id"])
    assert [(a["answer"], a["source"]) for a in stored] == [({"value": 5}, "firebase")]
    print(
        f"\nanswer through Firebase: 'Sent' on the student's page after {seconds_to_sent:.2f} s, "
        f"on the dashboard after {seconds_to_dashboard:.2f} s"
    )
    # Typically half a second; the margin is for a busy machine (1.13 s seen with other suites
    # running). The README keeps the measured figures.
    assert seconds_to_dashboard < 1.5

    # The page said how its links went, and how long Firebase took to answer.
    student.wait_for_report(
        "transport_connect", transport="firebase", outcome="connected", firebase_transport="websocket"
    )
    assert student.reported("transport_connect", transport="websocket", outcome="failed") >= 1
    assert firebase_session(standin, student.saved()["firebase"]["uid"])["transport"] == "websocket"
    student.wait_for_report("firebase_response")
    # ...and the aggregator took every report (a refused one would be 4xx).
    wait_until(lambda: len(student.metric_statuses) >= 2, timeout=15, what="the metric reports' answers")
    assert set(student.metric_statuses) == {202}, student.metric_statuses
    assert student.errors == []


def test_with_every_websocket_stopped_a_student_lives_and_answers_through_firebase_long_polling(
    firebase_class, browser
):
    server, standin = firebase_class["server"], firebase_class["standin"]
    teacher = live_class(server)
    session = teacher["session"]
    # No WebSocket gets through to any host: ours fails, then the Firebase SDK's, which falls
    # back to long polling (plain HTTP requests to /.lp).
    student = Student(browser, server, session["join_code"], "Grace", block=[EVERY_WEBSOCKET])
    student.join()
    expect(student.page.locator("#connection")).to_have_text("● live (Firebase)", timeout=20_000)
    uid = student.saved()["firebase"]["uid"]
    assert {"uid": uid, "transport": "long_polling"}.items() <= firebase_session(standin, uid).items()
    expect(student.page.get_by_role("heading", name="What do leaves need?")).to_be_visible()

    # The class moves on: the page learns it from the mirror, over long polling.
    state_reads = student.count("GET", "/api/student/state")
    ok(teacher["api"].post(f"/sessions/{session['id']}/next"))
    expect(student.page.get_by_role("heading", name="How many petals?")).to_be_visible(timeout=10_000)
    assert student.count("GET", "/api/student/state") == state_reads

    dashboard = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
    log_in(dashboard, server, teacher["teacher"])
    dashboard.goto(f"{server}/teach/sessions/{session['id']}/")
    expect(dashboard.locator(".roster-row")).to_have_count(1)
    watch_roster(dashboard)
    started_ms = time.time() * 1000
    student.page.get_by_label("How many petals?").fill("5")
    student.page.get_by_role("button", name="Send").click()
    expect(student.page.locator("#student-status")).to_contain_text("Sent", timeout=10_000)
    seconds_to_sent = time.time() - started_ms / 1000
    seconds_to_dashboard = seconds_until_roster_shows(dashboard, "Grace", "5", started_ms)
    assert student.count("POST", "/api/student/responses") == 0
    stored = answers(teacher["api"], session["id"])
    assert [(a["answer"], a["source"]) for a in stored] == [({"value": 5}, "firebase")]
    print(
        f"\nanswer through Firebase long polling: 'Sent' on the student's page after "
        f"{seconds_to_sent:.2f} s, on the dashboard after {seconds_to_dashboard:.2f} s"
    )
    # Typically under half a second, as over the SDK's WebSocket; the margin is for a busy machine.
    # An answer stuck until the next keep-alive would take the stand-in's 20 s.
    assert seconds_to_dashboard < 1.5

    # The teacher locks the question: the page shows it, from the mirror again.
    state_reads = student.count("GET", "/api/student/state")
    ok(teacher["api"].post(f"/sessions/{session['id']}/lock"))
    expect(student.page.locator("#student-status")).to_contain_text("Locked", timeout=10_000)
    expect(student.page.get_by_role("button", name="Send")).to_be_disabled()
    assert student.count("GET", "/api/student/state") == state_reads

    # The page reported that its Firebase link rides long polling, and the aggregator took it.
    student.wait_for_report(
        "transport_connect", transport="firebase", outcome="connected", firebase_transport="long_polling"
    )
    assert student.reported("transport_connect", transport="firebase", firebase_transport="websocket") == 0
    assert student.reported("transport_connect", transport="websocket", outcome="failed") >= 1
    wait_until(lambda: len(student.metric_statuses) >= 2, timeout=15, what="the metric reports' answers")
    assert set(student.metric_statuses) == {202}, student.metric_statuses
    assert student.errors == []


def test_on_long_polling_a_student_rides_out_a_firebase_restart_and_a_worker_pause(firebase_class, browser):
    server, standin, worker = firebase_class["server"], firebase_class["standin"], firebase_class["worker"]
    teacher = live_class(server)
    session = teacher["session"]
    student = Student(browser, server, session["join_code"], "Hedy", block=[EVERY_WEBSOCKET])
    student.join()
    expect(student.page.locator("#connection")).to_have_text("● live (Firebase)", timeout=20_000)
    uid = student.saved()["firebase"]["uid"]
    inbox = student.saved()["firebase"]["paths"]["inbox"]
    first = firebase_session(standin, uid)["session"]

    # Firebase goes away and comes back (its data kept): the page polls our server meanwhile, and
    # the SDK starts a new long-polling connection once it can.
    standin.go_down("refuse")
    expect(student.page.locator("#connection")).to_have_text("● connected (polling)", timeout=15_000)
    standin.come_up()
    expect(student.page.locator("#connection")).to_have_text("● live (Firebase)", timeout=30_000)
    again = firebase_session(standin, uid)
    assert again["transport"] == "long_polling" and again["session"] != first

    pause(worker, firebase_class["sqlite"])  # nobody takes answers out of the inboxes
    try:
        student.page.get_by_label("What do leaves need?").fill("roots")
        student.page.get_by_role("button", name="Send").click()
        # No acknowledgement within 4 s: the page sends the same submission over HTTP.
        expect(student.page.locator("#student-status")).to_contain_text("Sent", timeout=15_000)
        assert student.count("POST", "/api/student/responses") == 1
        waiting = standin.data(FIREBASE_TEST_NAMESPACE, inbox)
        assert len(waiting) == 1, waiting
    finally:
        worker.send_signal(signal.SIGCONT)
    # The worker wakes, takes the entry, finds that submission already stored and acknowledges it.
    wait_until(
        lambda: standin.data(FIREBASE_TEST_NAMESPACE, inbox) is None, timeout=15, what="the inbox to drain"
    )
    stored = answers(teacher["api"], session["id"])
    assert [(a["answer"], a["source"], a["version"]) for a in stored] == [({"text": "roots"}, "http", 1)]

    # The class moves on, and the page hears it over the new long-polling connection.
    state_reads = student.count("GET", "/api/student/state")
    ok(teacher["api"].post(f"/sessions/{session['id']}/next"))
    expect(student.page.get_by_role("heading", name="How many petals?")).to_be_visible(timeout=10_000)
    assert student.count("GET", "/api/student/state") == state_reads
    assert firebase_session(standin, uid)["transport"] == "long_polling"
    assert student.errors == []


def test_a_student_whose_websocket_works_leaves_firebase_alone(firebase_class, browser):
    server, standin = firebase_class["server"], firebase_class["standin"]
    session = live_class(server)["session"]
    student = Student(browser, server, session["join_code"], "Barbara")
    student.join()
    expect(student.page.locator("#connection")).to_have_text("● live")
    student.page.get_by_label("What do leaves need?").fill("light")
    student.page.get_by_role("button", name="Send").click()
    expect(student.page.locator("#student-status")).to_contain_text("Sent")
    assert student.saved()["firebase"]["uid"] not in standin.socket_uids()
    student.wait_for_report("transport_connect", transport="websocket", outcome="connected")
    assert student.reported("transport_connect", transport="firebase") == 0
    assert student.errors == []


def test_with_firebase_blocked_too_a_student_polls_and_answers_over_http(firebase_class, browser):
    server = firebase_class["server"]
    teacher = live_class(server)
    session = teacher["session"]
    student = Student(
        browser,
        server,
        session["join_code"],
        "Dorothy",
        block=[EVERY_WEBSOCKET],
        block_requests=[FIREBASE_LONG_POLLING],
    )
    student.join()
    expect(student.page.locator("#connection")).to_have_text("● connected (polling)")
    student.page.get_by_label("What do leaves need?").fill("water")
    student.page.get_by_role("button", name="Send").click()
    expect(student.page.locator("#student-status")).to_contain_text("Sent")
    assert student.count("POST", "/api/student/responses") == 1
    assert [a["source"] for a in answers(teacher["api"], session["id"])] == ["http"]
    # The Firebase SDK keeps trying; the page counted this try as failed or timed out.
    student.wait_for_report("transport_connect", transport="firebase")
    assert student.reported("transport_connect", transport="firebase", outcome="connected") == 0
    assert student.errors == []


def test_an_expired_custom_token_is_replaced_by_a_fresh_one_from_our_server(firebase_class, browser):
    server, standin = firebase_class["server"], firebase_class["standin"]
    session = live_class(server)["session"]
    joined = ok(
        httpx.post(f"{server}/api/join", json={"join_code": session["join_code"], "display_name": "Ada"}), 201
    )
    # What the tab holds an hour later: the join's token no longer signs anyone in.
    saved = {
        "token": joined["token"],
        "code": session["join_code"],
        "name": "Ada",
        "firebase": {**joined["firebase"], "token": joined["firebase"]["token"][:-8] + "AAAAAAAA"},
    }
    script = f"sessionStorage.setItem('peardeck.student', {json.dumps(json.dumps(saved))});"
    student = Student(
        browser, server, session["join_code"], "Ada", block=[OUR_WEBSOCKETS], init_script=script
    )
    student.page.goto(f"{server}/s/")
    expect(student.page.locator("#connection")).to_have_text("● live (Firebase)", timeout=20_000)
    assert student.count("POST", "/api/student/firebase") == 1
    assert joined["firebase"]["uid"] in standin.socket_uids()
    assert student.saved()["firebase"]["token"] != saved["firebase"]["token"]
    assert student.errors == []


def test_in_firebase_mode_students_use_firebase_and_the_dark_launch_tries_a_websocket(
    firebase_class, browser
):
    server, standin = firebase_class["firebase_server"], firebase_class["standin"]
    teacher = live_class(server)
    session = teacher["session"]
    student = Student(browser, server, session["join_code"], "Katherine")
    student.join()
    expect(student.page.locator("#connection")).to_have_text("● live (Firebase)", timeout=20_000)
    assert student.saved()["firebase"]["uid"] in standin.socket_uids()
    student.page.get_by_label("What do leaves need?").fill("sunlight")
    student.page.get_by_role("button", name="Send").click()
    expect(student.page.locator("#student-status")).to_contain_text("Sent", timeout=10_000)
    assert student.count("POST", "/api/student/responses") == 0
    stored = wait_until(lambda: answers(teacher["api"], session["id"]), timeout=15, what="the stored answer")
    assert [a["source"] for a in stored] == ["firebase"]
    # The background socket got through, was reported, and carried nothing.
    student.wait_for_report("websocket_darklaunch", outcome="connected")
    assert student.reported("transport_connect", transport="websocket") == 0
    assert student.errors == []


def test_with_the_worker_stopped_an_answer_goes_over_http_and_the_late_inbox_entry_counts_once(
    firebase_class, browser
):
    server, standin, worker = firebase_class["server"], firebase_class["standin"], firebase_class["worker"]
    teacher = live_class(server)
    session = teacher["session"]
    student = Student(browser, server, session["join_code"], "Mary", block=[OUR_WEBSOCKETS])
    student.join()
    expect(student.page.locator("#connection")).to_have_text("● live (Firebase)", timeout=20_000)
    inbox = student.saved()["firebase"]["paths"]["inbox"]

    pause(worker, firebase_class["sqlite"])  # nobody takes answers out of the inboxes
    try:
        student.page.get_by_label("What do leaves need?").fill("chlorophyll")
        student.page.get_by_role("button", name="Send").click()
        # No acknowledgement within 4 s: the page sends the same submission over HTTP.
        expect(student.page.locator("#student-status")).to_contain_text("Sent", timeout=15_000)
        assert student.count("POST", "/api/student/responses") == 1
        waiting = standin.data(FIREBASE_TEST_NAMESPACE, inbox)
        assert len(waiting) == 1, waiting
    finally:
        worker.send_signal(signal.SIGCONT)
    # The worker wakes, takes the entry, finds that submission already stored and acknowledges it.
    wait_until(
        lambda: standin.data(FIREBASE_TEST_NAMESPACE, inbox) is None, timeout=15, what="the inbox to drain"
    )
    stored = answers(teacher["api"], session["id"])
    assert [(a["answer"], a["source"], a["version"]) for a in stored] == [
        ({"text": "chlorophyll"}, "http", 1)
    ]
    assert student.errors == []


def test_a_student_removed_by_the_teacher_is_told_so_through_firebase(firebase_class, browser):
    server = firebase_class["server"]
    teacher = live_class(server)
    session = teacher["session"]
    student = Student(browser, server, session["join_code"], "Lise", block=[OUR_WEBSOCKETS])
    student.join()
    expect(student.page.locator("#connection")).to_have_text("● live (Firebase)", timeout=20_000)
    roster = ok(teacher["api"].get(f"/sessions/{session['id']}"))["students"]
    ok(teacher["api"].delete(f"/sessions/{session['id']}/students/{roster[0]['id']}"), 204)
    expect(
        student.page.get_by_role("heading", name="The teacher removed you from this session.")
    ).to_be_visible(timeout=10_000)
    assert student.errors == []


def test_a_websocket_that_gets_through_later_takes_over_and_firebase_is_let_go(firebase_class, browser):
    server, standin = firebase_class["server"], firebase_class["standin"]
    session = live_class(server)["session"]
    filtering = {"on": True}

    def school_filter(socket):
        if filtering["on"]:
            socket.close()
        else:
            socket.connect_to_server()

    student = Student(browser, server, session["join_code"], "Chien-Shiung")
    student.context.route_web_socket(OUR_WEBSOCKETS, school_filter)
    student.join()
    expect(student.page.locator("#connection")).to_have_text("● live (Firebase)", timeout=20_000)
    uid = student.saved()["firebase"]["uid"]
    assert uid in [entry["uid"] for entry in standin.sockets()]

    filtering["on"] = False  # the filter lets sockets through now; the client's next retry gets in
    expect(student.page.locator("#connection")).to_have_text("● live", timeout=30_000)
    wait_until(
        lambda: uid not in [entry["uid"] for entry in standin.sockets()], timeout=15, what="Firebase let go"
    )
    student.page.get_by_label("What do leaves need?").fill("carbon dioxide")
    student.page.get_by_role("button", name="Send").click()
    expect(student.page.locator("#student-status")).to_contain_text("Sent")
    assert student.count("POST", "/api/student/responses") == 0  # over the socket
    assert student.errors == []


def test_a_socket_closed_by_a_deploy_reconnects_without_sending_the_student_to_firebase(
    firebase_class, browser
):
    server, standin = firebase_class["server"], firebase_class["standin"]
    session = live_class(server)["session"]
    sockets = []

    def pass_through(socket):
        sockets.append(socket)
        socket.connect_to_server()

    student = Student(browser, server, session["join_code"], "Emmy")
    student.context.route_web_socket(OUR_WEBSOCKETS, pass_through)
    student.join()
    expect(student.page.locator("#connection")).to_have_text("● live")
    sockets[-1].close(code=1001, reason="going away")  # what a web pod's shutdown sends
    deadline = time.monotonic() + 10
    while len(sockets) < 2:  # Playwright runs the route handler while the page is being waited on
        assert time.monotonic() < deadline, "the page never reconnected"
        student.page.wait_for_timeout(100)
    expect(student.page.locator("#connection")).to_have_text("● live")
    student.page.wait_for_timeout(1000)
    assert student.saved()["firebase"]["uid"] not in standin.socket_uids()
    assert student.reported("transport_connect", transport="firebase") == 0
    assert student.errors == []
