"""integrations/firebase.py: off by default, lazy, sharded, and the credentials a student gets at join."""

import json
from collections import Counter
from pathlib import Path

import firebase_admin
from google.auth import jwt

from integrations import firebase
from live import services as live_services
from mirror.models import OutboxEntry
from tests.conftest import Api
from tests.firebase_standin.credentials import public_key_pem
from tests.firebase_standin.fixtures import FIREBASE_TEST_SHARDS
from tests.support.server import ROOT


def _apps_made_here() -> int:
    return sum(1 for name in firebase_admin._apps if name.startswith(firebase.APP_NAME))


def test_firebase_is_off_by_default_and_a_student_joining_gets_no_firebase_credentials(live_session):
    assert not firebase.is_enabled()
    response = Api().post("/api/join", {"join_code": live_session.join_code, "display_name": "Arnold"})
    assert response.status_code == 201
    assert response.json()["firebase"] is None
    assert _apps_made_here() == 0


def test_with_firebase_off_session_changes_leave_no_outbox_entries(live_session):
    live_services.step_question(session=live_session, step=1)
    live_services.flag_question(session=live_session, action="lock")
    assert OutboxEntry.objects.count() == 0


def test_a_student_joining_in_firebase_mode_gets_a_custom_token_for_their_session_and_role(
    firebase_settings, live_session
):
    firebase_settings.FIREBASE_WEB_CONFIG = json.dumps({"apiKey": "key-123", "projectId": "peardeck-test"})
    response = Api().post("/api/join", {"join_code": live_session.join_code, "display_name": "Arnold"})
    assert response.status_code == 201, response.content
    body = response.json()
    student_id = body["student"]["id"]
    details = body["firebase"]
    info = json.loads(Path(firebase_settings.FIREBASE_CREDENTIALS_FILE).read_text())
    claims = jwt.decode(details["token"], certs=public_key_pem(info), verify=True, audience=None)
    assert claims["uid"] == f"student-{student_id}" == details["uid"]
    assert claims["claims"] == {"session": str(live_session.pk), "role": "student"}
    shard = firebase.shard_of(live_session.pk)
    assert details["config"] == {
        "apiKey": "key-123",
        "projectId": "peardeck-test",
        "databaseURL": f"https://{FIREBASE_TEST_SHARDS[shard]}.firebaseio.com",
    }
    assert details["paths"] == {
        "state": f"/sessions/{live_session.pk}",
        "inbox": f"/inbox/{live_session.pk}/student-{student_id}",
        "acks": f"/acks/{live_session.pk}/student-{student_id}",
        "sent": f"/sent/{live_session.pk}/student-{student_id}",
    }


def test_sessions_spread_over_the_shards_and_always_land_on_the_same_one(settings):
    settings.FIREBASE_DATABASE_URLS = [f"https://shard-{index}.firebaseio.com" for index in range(4)]
    placement = [firebase.shard_of(session_id) for session_id in range(1, 4001)]
    assert placement == [firebase.shard_of(session_id) for session_id in range(1, 4001)]
    counts = Counter(placement)
    assert set(counts) == {0, 1, 2, 3}
    assert all(800 <= count <= 1200 for count in counts.values()), counts


def test_the_app_is_made_on_first_use_and_writes_reach_the_shards_database(
    firebase_settings, firebase_standin
):
    assert _apps_made_here() == 0
    firebase.update("/sessions", {"41": {"seq": 3}}, shard=1)
    assert _apps_made_here() == 1
    assert firebase_standin.data(FIREBASE_TEST_SHARDS[1], "/sessions/41") == {"seq": 3}
    assert firebase_standin.data(FIREBASE_TEST_SHARDS[0], "/sessions/41") is None
    firebase.reset()
    assert _apps_made_here() == 0


def test_a_student_still_joins_when_firebase_credentials_cannot_be_made(firebase_settings, live_session):
    from observability import metrics

    failures = metrics.FIREBASE_ERRORS.labels(operation="token", reason="error")._value.get()
    firebase_settings.FIREBASE_WEB_CONFIG = "{not json"
    response = Api().post("/api/join", {"join_code": live_session.join_code, "display_name": "Wanda"})
    assert response.status_code == 201
    assert response.json()["firebase"] is None
    assert metrics.FIREBASE_ERRORS.labels(operation="token", reason="error")._value.get() == failures + 1


def _join(live_session, name: str) -> dict:
    response = Api().post("/api/join", {"join_code": live_session.join_code, "display_name": name})
    assert response.status_code == 201, response.content
    return response.json()


def test_with_an_emulator_the_browser_is_told_where_to_sign_in_and_connect(firebase_settings, live_session):
    host, port = firebase_settings.FIREBASE_DATABASE_EMULATOR_HOST.rsplit(":", 1)
    details = _join(live_session, "Edsger")["firebase"]
    assert details["emulator"] == {"host": host, "port": int(port), "auth_url": f"http://{host}:{port}"}


def test_without_an_emulator_the_browser_gets_no_emulator_block(firebase_settings, live_session):
    firebase_settings.FIREBASE_DATABASE_EMULATOR_HOST = ""
    assert _join(live_session, "Frances")["firebase"]["emulator"] is None


def test_a_student_gets_fresh_firebase_credentials_for_the_same_uid_and_paths(
    firebase_settings, live_session
):
    joined = _join(live_session, "Grace")
    response = Api(joined["token"]).post("/api/student/firebase")
    assert response.status_code == 200, response.content
    fresh = response.json()["firebase"]
    assert fresh["uid"] == joined["firebase"]["uid"]
    assert fresh["paths"] == joined["firebase"]["paths"]
    assert fresh["config"] == joined["firebase"]["config"]
    info = json.loads(Path(firebase_settings.FIREBASE_CREDENTIALS_FILE).read_text())
    claims = jwt.decode(fresh["token"], certs=public_key_pem(info), verify=True, audience=None)
    assert claims["uid"] == joined["firebase"]["uid"]


def test_fresh_firebase_credentials_are_null_with_firebase_off(live_session):
    joined = _join(live_session, "Hedy")
    response = Api(joined["token"]).post("/api/student/firebase")
    assert response.status_code == 200
    assert response.json() == {"firebase": None}


def test_fresh_firebase_credentials_need_a_student_token_and_are_rate_limited(
    firebase_settings, live_session
):
    assert Api().post("/api/student/firebase").status_code == 401
    assert Api("pds_not-a-real-token").post("/api/student/firebase").status_code == 401
    student = Api(_join(live_session, "Ida")["token"])
    limit = firebase_settings.RATE_LIMITS["firebase_token"][0]
    assert all(student.post("/api/student/firebase").status_code == 200 for _ in range(limit))
    refused = student.post("/api/student/firebase")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"


def test_the_student_page_loads_the_vendored_sdk_through_an_import_map_only_when_firebase_is_on(
    client, firebase_settings
):
    firebase_settings.FIREBASE_DATABASE_URLS = []
    page = client.get("/s/").content.decode()
    assert "importmap" not in page and "firebase-link.js" not in page

    firebase_settings.FIREBASE_DATABASE_URLS = [f"https://{FIREBASE_TEST_SHARDS[0]}.firebaseio.com"]
    page = client.get("/s/").content.decode()
    version = firebase.BROWSER_SDK_VERSION
    import_map = page.split('<script type="importmap" nonce="')[1].split('">', 1)[1].split("</script>")[0]
    assert import_map == (
        f'{{"imports": {{"https://www.gstatic.com/firebasejs/{version}/'
        f'firebase-app.js": "/static/vendor/firebase/{version}/firebase-app.js"}}}}'
    )
    assert "firebase-link.js" in page
    config = json.loads(page.split('id="page-config" type="application/json">')[1].split("</script>")[0])
    assert config["firebase"] is True and config["firebase_first"] is False
    assert config["firebase_sdk"] == {
        module: f"/static/vendor/firebase/{version}/firebase-{module}.js"
        for module in ("app", "auth", "database")
    }
    for module in ("app", "auth", "database"):
        assert (ROOT / "static" / "vendor" / "firebase" / version / f"firebase-{module}.js").is_file()
