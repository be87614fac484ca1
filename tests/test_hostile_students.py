"""Issue 14: what a hostile or careless student (a join code and a browser console) could break,
one test per point of the issue, through the real seams: the Django test client, the ASGI
application, the Firebase worker against the stand-in. Each failed before its fix."""

import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from accounts.services import issue_api_token
from live import services
from peardeck.asgi import application
from responses.models import Response
from sessions.models import Student
from tests.conftest import Api, error_of, join
from tests.support.classroom import make_deck, number_questions, open_session, text_questions

ORIGIN = [(b"origin", b"http://127.0.0.1:8000"), (b"host", b"127.0.0.1:8000")]
NUL = "a\u0000b"
LONE_SURROGATE = "a\ud800b"


def _number_class(teacher):
    """A live session on a number question without min or max, so any finite number is allowed."""
    deck = make_deck(
        teacher, title="Anything goes", questions=[*number_questions("Pick a number"), *text_questions("Say")]
    )
    session, projector_key = open_session(teacher, deck)
    return session, deck.questions.get(kind="number"), projector_key


def _raw_json(body) -> str:
    # json.dumps writes a lone surrogate or a NUL as a \u escape, as a browser's JSON.stringify does.
    return json.dumps(body)


# --- 1. the largest finite numbers no longer break the dashboard -------------------------------


@pytest.mark.django_db(transaction=True)
async def test_answers_of_plus_and_minus_1e308_leave_tallies_reveal_the_teachers_socket_and_csv_working(
    teacher,
):
    session, question, _key = await database_sync_to_async(_number_class)(teacher)
    _token, teacher_token = await database_sync_to_async(issue_api_token)(user=teacher, name="t")
    teacher_api = Api(teacher_token)
    for name, value in [("Max", 1e308), ("Min", -1e308), ("Top", 1.7976931348623157e308)]:
        student = await database_sync_to_async(join)(session, name)
        stored = await database_sync_to_async(student.post)(
            "/api/student/responses",
            {"question_id": question.pk, "submission_id": f"n-{name}", "answer": {"value": value}},
        )
        assert stored.status_code == 201, stored.content

    tallies = await database_sync_to_async(teacher_api.get)(f"/api/sessions/{session.pk}/tallies")
    assert tallies.status_code == 200
    numbers = next(t for t in tallies.json()["tallies"] if t["question_id"] == question.pk)
    assert numbers["summary"]["min"] == -1e308
    assert numbers["summary"]["max"] == 1.7976931348623157e308
    assert sum(numbers["histogram"]["counts"]) == 3
    revealed = await database_sync_to_async(teacher_api.post)(f"/api/sessions/{session.pk}/reveal")
    assert revealed.status_code == 200
    exported = await database_sync_to_async(teacher_api.get)(f"/api/sessions/{session.pk}/export.csv")
    assert exported.status_code == 200

    communicator = WebsocketCommunicator(
        application, f"/ws/sessions/{session.join_code}/teacher/?token={teacher_token}", headers=ORIGIN
    )
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    hello = await communicator.receive_json_from(timeout=5)
    assert hello["type"] == "hello"
    assert {t["question_id"] for t in hello["state"]["tallies"]} >= {question.pk}
    await communicator.disconnect()


@pytest.mark.django_db
def test_a_replayed_1e308_answer_is_the_same_submission(teacher):
    session, question, _key = _number_class(teacher)
    student = join(session, "Echo")
    body = {"question_id": question.pk, "submission_id": "big-1", "answer": {"value": 1e308}}
    assert student.post("/api/student/responses", body).status_code == 201
    replayed = student.post("/api/student/responses", body)
    assert replayed.status_code == 200
    assert replayed.json()["duplicate"] is True


# --- 3. NUL and lone surrogates in stored text are a 422 naming the field ---------------------


@pytest.mark.parametrize("bad", [NUL, LONE_SURROGATE], ids=["nul", "lone surrogate"])
@pytest.mark.django_db
def test_a_nul_or_lone_surrogate_in_an_answer_is_refused_naming_the_field(teacher, bad):
    session, _question, _key = _number_class(teacher)
    text_question = session.deck.questions.get(kind="text")
    services.go_to_question(session=session, question_id=text_question.pk)
    student = join(session, "Nelly")
    refused = student.post(
        "/api/student/responses",
        raw=_raw_json({"question_id": text_question.pk, "submission_id": "t-1", "answer": {"text": bad}}),
    )
    assert refused.status_code == 422, refused.content
    assert error_of(refused)["field"] == "answer.text"
    assert Response.objects.count() == 0


@pytest.mark.parametrize("bad", [NUL, LONE_SURROGATE], ids=["nul", "lone surrogate"])
@pytest.mark.parametrize(
    ("where", "field"),
    [
        ("deck title", "title"),
        ("prompt", "prompt"),
        ("choice", "config.choices.0"),
        ("image_url", "image_url"),
        ("draggable image", "config.image_url"),
        ("slide body", "config.body"),
        ("token name", "name"),
        ("signup e-mail", "email"),
        ("signup password", "password"),
        ("login username", "username"),
    ],
)
@pytest.mark.django_db
def test_a_nul_or_lone_surrogate_in_any_stored_text_is_a_422_naming_the_field(
    teacher, teacher_api, where, field, bad
):
    deck = teacher_api.post("/api/decks", {"title": "Fine"}).json()
    questions = f"/api/decks/{deck['id']}/questions"
    requests = {
        "deck title": ("/api/decks", {"title": bad}),
        "prompt": (questions, {"kind": "text", "prompt": bad}),
        "choice": (questions, {"kind": "multiple_choice", "prompt": "?", "config": {"choices": [bad, "b"]}}),
        "image_url": (questions, {"kind": "text", "prompt": "?", "image_url": "https://x.org/" + bad}),
        "draggable image": (
            questions,
            {"kind": "draggable", "prompt": "?", "config": {"image_url": "/" + bad}},
        ),
        "slide body": (questions, {"kind": "slide", "prompt": "?", "config": {"body": bad}}),
        "token name": (
            "/api/auth/tokens",
            {"username": "ms-frizzle", "password": "magic-school-bus-42", "name": bad},
        ),
        "signup e-mail": (
            "/api/auth/signup",
            {"username": "eve", "password": "a-long-passphrase", "email": bad},
        ),
        "signup password": ("/api/auth/signup", {"username": "eve", "password": "a-long-" + bad}),
        "login username": ("/api/auth/tokens", {"username": "ms-" + bad, "password": "magic-school-bus-42"}),
    }
    path, body = requests[where]
    refused = Api(teacher_api.token).post(path, raw=_raw_json(body))
    assert refused.status_code == 422, refused.content
    assert error_of(refused)["field"] == field


@pytest.mark.django_db
def test_a_signup_email_must_be_an_email_address(db):
    refused = Api().post(
        "/api/auth/signup", {"username": "eve", "password": "a-long-passphrase", "email": "<b>"}
    )
    assert refused.status_code == 422
    assert error_of(refused)["field"] == "email"


# --- 4. display names are compared one way, in the check and in the constraint -----------------


@pytest.mark.parametrize(
    ("first", "second", "taken"),
    [
        ("kate", "\u212aate", True),  # Kelvin sign
        ("\u212aate", "KATE", True),
        ("ian", "\u0130an", False),  # dotted capital I: another name, by Unicode's case folding
        ("\u0130an", "ian", False),
        ("Strauß", "STRAUSS", True),
        ("ﬁona", "Fiona", True),  # the ligature
    ],
)
@pytest.mark.django_db
def test_a_name_that_folds_to_a_taken_one_is_name_taken_never_a_500(live_session, first, second, taken):
    join(live_session, first)
    second_join = Api().post("/api/join", {"join_code": live_session.join_code, "display_name": second})
    if taken:
        assert second_join.status_code == 409
        assert error_of(second_join)["code"] == "name_taken"
    else:
        assert second_join.status_code == 201
    assert Student.objects.filter(session=live_session).count() == (1 if taken else 2)


# --- 5. one JSON reader with a depth limit, for browser metrics too ------------------------------


@pytest.mark.django_db
def test_a_browser_metrics_report_nested_5000_deep_is_a_400_and_counted(db):
    from prometheus_client import REGISTRY

    def rejected():
        return (
            REGISTRY.get_sample_value("peardeck_browser_metrics_rejected_total", {"reason": "too_deep"}) or 0
        )

    before = rejected()
    deep = '{"app": "student", "metrics": ' + "[" * 5000 + "]" * 5000 + "}"
    assert len(deep) < 16 * 1024
    refused = Api().post("/api/browser-metrics", raw=deep)
    assert refused.status_code == 400
    assert error_of(refused)["code"] == "malformed_json"
    assert "nested deeper" in error_of(refused)["message"]
    assert rejected() == before + 1


@pytest.mark.parametrize("raw", ["[" * 5000 + "]" * 5000, '{"title": ' + "[" * 100_000])
@pytest.mark.django_db
def test_any_api_body_nested_too_deep_is_a_400(teacher_api, raw):
    refused = teacher_api.post("/api/decks", raw=raw)
    assert refused.status_code == 400
    assert error_of(refused)["code"] == "malformed_json"


@pytest.mark.parametrize(
    "raw", ['{"title": NaN}', '{"title": 1e400}', '{"title": -Infinity}', '{"title": 1' + "0" * 400 + "}"]
)
@pytest.mark.django_db
def test_numbers_outside_the_double_range_are_unreadable_json(teacher_api, raw):
    refused = teacher_api.post("/api/decks", raw=raw)
    assert refused.status_code == 400
    assert error_of(refused)["code"] == "malformed_json"


# --- 9. a Content-Security-Policy on the pages --------------------------------------------------


def _directives(header: str) -> dict[str, list[str]]:
    return {name: sources for name, *sources in (part.split() for part in header.split(";"))}


@pytest.mark.parametrize("path", ["/", "/s/", "/projector/ABCDEF/"])
@pytest.mark.django_db
def test_every_page_runs_only_our_scripts(client, path):
    page = client.get(path)
    assert page.status_code == 200
    policy = _directives(page["Content-Security-Policy"])
    assert policy["script-src"][0] == "'self'"
    assert "'unsafe-inline'" not in policy["script-src"] and "'unsafe-eval'" not in policy["script-src"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]


@pytest.mark.django_db
def test_the_student_pages_import_map_carries_the_nonce_and_firebase_is_reachable(client, firebase_settings):
    import re

    page = client.get("/s/")
    policy = _directives(page["Content-Security-Policy"])
    nonce = re.search(r'<script type="importmap" nonce="([^"]+)"', page.content.decode()).group(1)
    assert f"'nonce-{nonce}'" in policy["script-src"]
    assert "wss://*.firebaseio.com" in policy["connect-src"]
    assert "https://identitytoolkit.googleapis.com" in policy["connect-src"]
    assert f"ws://{firebase_settings.FIREBASE_DATABASE_EMULATOR_HOST}" in policy["connect-src"]
    assert client.get("/s/")["Content-Security-Policy"] != page["Content-Security-Policy"]  # a nonce each


@pytest.mark.django_db
def test_the_api_docs_keep_their_own_needs(client):
    assert "Content-Security-Policy" not in client.get("/api/docs")


# --- 6. chunked bodies reach Django whole; bodies over the cap are a counted JSON 413 ------------


async def _asgi_request(path: str, parts: list[bytes], headers: list[tuple[bytes, bytes]]):
    """One HTTP request straight into the ASGI application, its body in `parts` (as a chunked
    request arrives); returns (status, JSON body)."""
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json"), *headers],
        "http_version": "1.1",
        "scheme": "http",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 5000),
        "root_path": "",
    }
    pending = list(parts)

    async def receive():
        if pending:
            return {"type": "http.request", "body": pending.pop(0), "more_body": bool(pending)}
        return {"type": "http.disconnect"}

    sent = []

    async def send(message):
        sent.append(message)

    await application(scope, receive, send)
    status = next(message["status"] for message in sent if message["type"] == "http.response.start")
    body = b"".join(message.get("body", b"") for message in sent if message["type"] == "http.response.body")
    return status, json.loads(body)


CHUNKED = [(b"transfer-encoding", b"chunked")]
REPORT = json.dumps(
    {"app": "student", "metrics": [{"name": "app_load", "labels": {"outcome": "success"}, "value": 1}]}
).encode()


def _refused(reason: str) -> float:
    from prometheus_client import REGISTRY

    labels = {"transport": "http", "reason": reason}
    return REGISTRY.get_sample_value("peardeck_messages_refused_total", labels) or 0


@pytest.mark.django_db(transaction=True)
async def test_a_chunked_report_reaches_django_whole():
    status, body = await _asgi_request(
        "/api/browser-metrics", [REPORT[:7], REPORT[7:30], REPORT[30:]], CHUNKED
    )
    assert (status, body) == (202, {"accepted": 1})


@pytest.mark.django_db(transaction=True)
async def test_a_chunked_report_over_16_kib_is_a_413_not_a_400():
    padded = REPORT[:-1] + b', "padding": "' + b"x" * (17 * 1024) + b'"}'
    status, body = await _asgi_request("/api/browser-metrics", [padded[:9000], padded[9000:]], CHUNKED)
    assert status == 413
    assert body["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize("declared", [False, True], ids=["chunked", "with content-length"])
@pytest.mark.django_db(transaction=True)
async def test_a_body_over_the_servers_cap_is_a_json_413_with_a_message_and_counted(settings, declared):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    before = _refused("too_large")
    chunks = [b"x" * 6000] * 3
    headers = [(b"content-length", b"18000")] if declared else CHUNKED
    status, body = await _asgi_request("/api/decks", chunks, headers)
    assert status == 413
    assert body["error"]["code"] == "payload_too_large"
    assert body["error"]["message"]
    assert _refused("too_large") == before + 1


# --- 7. a WebSocket message has the HTTP body's limits, and never costs a socket ----------------


def test_a_websocket_message_is_capped_like_an_http_body(settings):
    from runtime.workers import PeardeckWorker

    assert PeardeckWorker.CONFIG_KWARGS["ws_max_size"] == settings.DATA_UPLOAD_MAX_MEMORY_SIZE


async def _student_socket(session, token):
    communicator = WebsocketCommunicator(
        application, f"/ws/sessions/{session.join_code}/student/?token={token}", headers=ORIGIN
    )
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    assert (await communicator.receive_json_from(timeout=5))["type"] == "hello"
    return communicator


async def _reply(communicator) -> dict:
    output = await communicator.receive_output(timeout=5)
    assert output["type"] == "websocket.send", f"the socket was dropped: {output}"
    return json.loads(output["text"])


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("[" * 10_000 + "]" * 10_000, "malformed_json"),
        ('{"type": "submit", "question_id": 1, "submission_id": "a", "answer": {"text": "a\\u0000b"}}', None),
        ('{"type": "sync", "seq": 1e999}', "malformed_json"),
        ('{"type": "' + "x" * 100_000 + '\\u0000"}', "unknown_message"),
        ('{"type": "submit", "question_id": 1e308, "submission_id": {"a": [1]}, "answer": {}}', "invalid"),
    ],
    ids=["10,000 deep", "a NUL in an answer", "1e999", "a made-up type", "odd ids"],
)
@pytest.mark.django_db(transaction=True)
async def test_a_hostile_frame_gets_an_error_frame_and_the_socket_stays_open(teacher, frame, code):
    session, _question, _key = await database_sync_to_async(_number_class)(teacher)
    text_question = await database_sync_to_async(lambda: session.deck.questions.get(kind="text"))()
    await database_sync_to_async(services.go_to_question)(session=session, question_id=text_question.pk)
    _student, token = await database_sync_to_async(services.join_session)(
        join_code=session.join_code, display_name="Mallory"
    )
    communicator = await _student_socket(session, token)
    await communicator.send_to(
        text_data=frame.replace('"question_id": 1,', f'"question_id": {text_question.pk},')
    )
    reply = await _reply(communicator)
    assert reply["type"] == "error"
    assert reply["code"] == (code or "invalid_answer")
    assert 0 < len(reply["message"]) < 200
    await communicator.send_json_to({"type": "ping"})
    assert await _reply(communicator) == {"type": "pong"}
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_socket_flooding_messages_gets_rate_limited_and_keeps_its_socket(teacher):
    from live.consumers import MESSAGE_BURST

    session, _question, _key = await database_sync_to_async(_number_class)(teacher)
    _student, token = await database_sync_to_async(services.join_session)(
        join_code=session.join_code, display_name="Flo"
    )
    communicator = await _student_socket(session, token)
    for _ in range(int(MESSAGE_BURST) + 20):
        await communicator.send_json_to({"type": "ping"})
    replies = [await _reply(communicator) for _ in range(int(MESSAGE_BURST) + 1)]
    assert replies[:-1] == [{"type": "pong"}] * int(MESSAGE_BURST)
    assert replies[-1]["code"] == "rate_limited"
    assert await communicator.receive_nothing(timeout=0.3)  # one error for the whole excess
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_reconnect_with_an_odd_since_is_greeted_not_dropped(teacher):
    session, _question, _key = await database_sync_to_async(_number_class)(teacher)
    _student, token = await database_sync_to_async(services.join_session)(
        join_code=session.join_code, display_name="Sia"
    )
    communicator = WebsocketCommunicator(
        application, f"/ws/sessions/{session.join_code}/student/?token={token}&since=%C2%B2", headers=ORIGIN
    )
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    hello = await _reply(communicator)
    assert hello["type"] == "hello" and hello["state"] is not None
    await communicator.disconnect()


# --- 9. revocation reaches open sockets -------------------------------------------------------------


async def _closed_within(communicator, seconds: float) -> int:
    """The close code the socket gets within `seconds`, after any frames before it."""
    import asyncio

    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        output = await communicator.receive_output(
            timeout=max(0.01, deadline - asyncio.get_running_loop().time())
        )
        if output["type"] == "websocket.close":
            return output["code"]


@pytest.mark.django_db(transaction=True)
async def test_a_teacher_socket_closes_when_its_api_token_is_revoked_and_others_stay(teacher):
    session, _question, _key = await database_sync_to_async(_number_class)(teacher)
    revoked, revoked_token = await database_sync_to_async(issue_api_token)(user=teacher, name="laptop")
    _kept, kept_token = await database_sync_to_async(issue_api_token)(user=teacher, name="phone")
    sockets = {}
    for name, token in (("revoked", revoked_token), ("kept", kept_token)):
        sockets[name] = WebsocketCommunicator(
            application, f"/ws/sessions/{session.join_code}/teacher/?token={token}", headers=ORIGIN
        )
        assert (await sockets[name].connect(timeout=5))[0]
        assert (await sockets[name].receive_json_from(timeout=5))["type"] == "hello"

    deleted = await database_sync_to_async(Api(kept_token).delete)(f"/api/auth/tokens/{revoked.pk}")
    assert deleted.status_code == 204

    assert await _closed_within(sockets["revoked"], 3) == 4401
    await sockets["kept"].send_json_to({"type": "ping"})
    assert await _reply(sockets["kept"]) == {"type": "pong"}
    await sockets["kept"].disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_projector_socket_closes_when_its_key_is_rotated_and_the_new_key_works(teacher):
    session, _question, projector_key = await database_sync_to_async(_number_class)(teacher)
    _token, teacher_token = await database_sync_to_async(issue_api_token)(user=teacher, name="t")
    old = WebsocketCommunicator(
        application, f"/ws/sessions/{session.join_code}/projector/?token={projector_key}", headers=ORIGIN
    )
    assert (await old.connect(timeout=5))[0]
    assert (await old.receive_json_from(timeout=5))["type"] == "hello"

    rotated = await database_sync_to_async(Api(teacher_token).post)(
        f"/api/sessions/{session.pk}/projector-key"
    )
    new_key = rotated.json()["projector_key"]

    assert await _closed_within(old, 3) == 4401
    fresh = WebsocketCommunicator(
        application, f"/ws/sessions/{session.join_code}/projector/?token={new_key}", headers=ORIGIN
    )
    assert (await fresh.connect(timeout=5))[0]
    assert (await fresh.receive_json_from(timeout=5))["type"] == "hello"
    await database_sync_to_async(services.rotate_projector_key)(session=session)
    assert await _closed_within(fresh, 3) == 4401


@pytest.mark.django_db(transaction=True)
async def test_a_dashboard_socket_closes_when_the_teacher_logs_out(teacher):
    from django.test import Client

    session, _question, _key = await database_sync_to_async(_number_class)(teacher)
    browser = Client()
    await database_sync_to_async(browser.force_login)(teacher)
    cookie = f"sessionid={browser.cookies['sessionid'].value}".encode()
    dashboard = WebsocketCommunicator(
        application, f"/ws/sessions/{session.join_code}/teacher/", headers=[*ORIGIN, (b"cookie", cookie)]
    )
    assert (await dashboard.connect(timeout=5))[0]
    assert (await dashboard.receive_json_from(timeout=5))["type"] == "hello"

    await database_sync_to_async(browser.post)("/accounts/logout/")

    assert await _closed_within(dashboard, 3) == 4401


# --- beyond the list: a loop in the browser console ------------------------------------------------


@pytest.mark.django_db
def test_a_student_flooding_the_api_is_rate_limited_and_the_rest_of_the_class_is_not(
    live_session, questions, monkeypatch
):
    from django.conf import settings

    from sessions.auth import STUDENT_REQUESTS

    monkeypatch.setattr(STUDENT_REQUESTS, "rate", 0.5)  # this machine is slower than a script
    flooder, classmate = join(live_session, "Loop"), join(live_session, "Calm")
    statuses = [
        flooder.post(
            "/api/student/responses",
            {
                "question_id": questions["multiple_choice"].pk,
                "submission_id": f"f{n}",
                "answer": {"choices": [0]},
            },
        ).status_code
        for n in range(int(settings.STUDENT_REQUEST_BURST) + 10)
    ]
    assert statuses.count(429) >= 9
    refused = flooder.get("/api/student/state")
    assert refused.status_code == 429
    assert error_of(refused)["code"] == "rate_limited"
    assert int(refused["Retry-After"]) >= 1
    assert classmate.get("/api/student/state").status_code == 200


@pytest.mark.django_db
def test_the_sign_in_page_may_send_the_browser_on_to_a_configured_provider_only(client, settings):
    settings.OIDC_PROVIDERS = {
        "google": {
            "client_id": "x",
            "client_secret": "y",
            "discovery_url": "https://accounts.google.com/.well-known/openid-configuration",
        }
    }
    policy = _directives(client.get("/accounts/login/")["Content-Security-Policy"])
    assert policy["form-action"] == ["'self'", "https://accounts.google.com"]
