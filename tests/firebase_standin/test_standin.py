"""The stand-in, driven through the real firebase-admin SDK as peardeck will drive it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import firebase_admin
import pytest
from firebase_admin import auth, credentials, db, exceptions
from google.auth import jwt

from tests.firebase_standin import StandIn
from tests.firebase_standin.credentials import public_key_pem, service_account_info
from tests.firebase_standin.fixtures import FIREBASE_TEST_NAMESPACE, FIREBASE_TEST_SHARDS, EventRecorder

REPO_ROOT = Path(__file__).resolve().parents[2]


def root(app: firebase_admin.App) -> db.Reference:
    return db.reference("/", app=app)


def control(standin: StandIn, action: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"http://{standin.address}/.standin/{action}",
        data=json.dumps(body or {}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


# --- reads and writes -------------------------------------------------------------------------


def test_a_value_set_through_the_sdk_reads_back_the_same(firebase_app):
    root(firebase_app).child("sessions/ABC123").set({"state": "live", "seq": 4, "choices": ["a", "b"]})

    assert root(firebase_app).child("sessions/ABC123").get() == {
        "state": "live",
        "seq": 4,
        "choices": ["a", "b"],
    }
    assert root(firebase_app).child("sessions/ABC123/seq").get() == 4


def test_nulls_and_empty_objects_are_pruned_like_firebase_does(firebase_app, firebase_standin):
    root(firebase_app).child("a").set({"kept": 1, "gone": None, "empty": {}, "nested": {"only": None}})

    assert root(firebase_app).child("a").get() == {"kept": 1}
    root(firebase_app).child("a/kept").set({})
    # The parent had nothing else, so it disappears too.
    assert root(firebase_app).get() is None
    assert firebase_standin.data(FIREBASE_TEST_NAMESPACE) is None


def test_a_multi_path_update_changes_every_path_at_once_and_null_deletes(firebase_app):
    ref = root(firebase_app)
    ref.set({"sessions": {"S1": {"seq": 1, "question": "q1", "locked": False}}, "other": 1})

    ref.update(
        {"sessions/S1/seq": 2, "sessions/S1/question": "q2", "sessions/S1/locked": None, "tallies/q2": 0}
    )

    assert ref.get() == {
        "sessions": {"S1": {"seq": 2, "question": "q2"}},
        "tallies": {"q2": 0},
        "other": 1,
    }


def test_an_update_whose_paths_overlap_is_refused_and_changes_nothing(firebase_app):
    ref = root(firebase_app)
    ref.set({"a": {"b": 1}})

    with pytest.raises(exceptions.InvalidArgumentError, match="ancestor"):
        ref.update({"a": {"c": 1}, "a/b": 2})

    assert ref.get() == {"a": {"b": 1}}


def test_keys_firebase_forbids_are_refused(firebase_app):
    with pytest.raises(exceptions.InvalidArgumentError):
        root(firebase_app).child("students").set({"ada@example.org": 1})
    assert root(firebase_app).get() is None


def test_push_ids_are_unique_and_sort_in_the_order_they_were_made(firebase_app):
    inbox = root(firebase_app).child("inbox")

    keys = [inbox.push({"n": n}).key for n in range(30)]

    assert len(set(keys)) == 30
    assert all(len(key) == 20 for key in keys)
    assert sorted(keys) == keys
    stored = inbox.get()
    assert [stored[key]["n"] for key in sorted(stored)] == list(range(30))


def test_delete_removes_the_value_and_empties_its_parents(firebase_app):
    ref = root(firebase_app)
    ref.set({"a": {"b": {"c": 1}}, "d": 2})

    ref.child("a/b/c").delete()

    assert ref.get() == {"d": 2}


def test_a_shallow_read_returns_only_the_child_keys(firebase_app):
    ref = root(firebase_app).child("sessions")
    ref.set({"S1": {"deep": {"x": 1}}, "S2": "leaf"})

    assert ref.get(shallow=True) == {"S1": True, "S2": True}
    assert ref.child("S2").get(shallow=True) == "leaf"


def test_server_values_resolve_to_a_timestamp_and_an_increment(firebase_app):
    ref = root(firebase_app).child("counter")
    before = int(time.time() * 1000)
    ref.set({"at": {".sv": "timestamp"}, "n": 5})

    ref.update({"n": {".sv": {"increment": 2}}})

    value = ref.get()
    assert value["n"] == 7
    assert before <= value["at"] <= int(time.time() * 1000)


# --- queries ----------------------------------------------------------------------------------

ANSWERS = {
    "s1": {"score": 3, "name": "Ada"},
    "s2": {"score": 1, "name": "Bo"},
    "s3": {"score": 2, "name": "Cy"},
    "s4": {"name": "Di"},
    "s5": {"score": 3, "name": "Ed"},
}


def test_ordering_by_child_filters_by_range_and_limits_from_the_start(firebase_app):
    ref = root(firebase_app).child("answers")
    ref.set(ANSWERS)

    result = ref.order_by_child("score").start_at(2).limit_to_first(2).get()

    assert list(result) == ["s3", "s1"]


def test_ordering_by_child_puts_missing_values_first_and_breaks_ties_by_key(firebase_app):
    ref = root(firebase_app).child("answers")
    ref.set(ANSWERS)

    assert list(ref.order_by_child("score").get()) == ["s4", "s2", "s3", "s1", "s5"]
    assert list(ref.order_by_child("score").equal_to(3).get()) == ["s1", "s5"]


def test_ordering_by_key_limits_from_the_end_and_by_range(firebase_app):
    ref = root(firebase_app).child("answers")
    ref.set(ANSWERS)

    assert list(ref.order_by_key().limit_to_last(2).get()) == ["s4", "s5"]
    assert list(ref.order_by_key().start_at("s2").end_at("s3").get()) == ["s2", "s3"]


def test_ordering_by_value_orders_mixed_types_as_firebase_does(firebase_app):
    ref = root(firebase_app).child("mixed")
    ref.set({"a": "text", "b": 10, "c": True, "d": 2, "e": False})

    assert list(ref.order_by_value().get()) == ["e", "c", "d", "b", "a"]
    assert list(ref.order_by_value().start_at(3).end_at(100).get()) == ["b"]


# --- ETags and transactions ------------------------------------------------------------------


def test_a_transaction_retries_with_the_fresh_value_after_a_concurrent_write(firebase_app, firebase_standin):
    ref = root(firebase_app).child("tally")
    ref.set({"answered": 10})
    seen = []

    def add_one(current):
        seen.append(current["answered"])
        if len(seen) == 1:
            # Another writer gets in between the read and the conditional write.
            firebase_standin.seed(FIREBASE_TEST_NAMESPACE, "/tally/answered", 20)
        return {"answered": current["answered"] + 1}

    assert ref.transaction(add_one) == {"answered": 21}
    assert seen == [10, 20]
    assert ref.get() == {"answered": 21}


def test_set_if_unchanged_with_a_stale_etag_returns_the_current_value_and_etag(firebase_app):
    ref = root(firebase_app).child("x")
    ref.set("one")
    _, stale = ref.get(etag=True)
    ref.set("two")

    done, value, etag = ref.set_if_unchanged(stale, "three")

    assert (done, value) == (False, "two")
    assert ref.set_if_unchanged(etag, "three")[0] is True
    assert ref.get() == "three"


def test_get_if_changed_answers_not_modified_for_a_current_etag(firebase_app):
    ref = root(firebase_app).child("x")
    ref.set({"v": 1})
    _, etag = ref.get(etag=True)

    assert ref.get_if_changed(etag) == (False, None, None)
    ref.set({"v": 2})
    changed, value, new_etag = ref.get_if_changed(etag)
    assert (changed, value) == (True, {"v": 2})
    assert new_etag != etag


# --- streaming --------------------------------------------------------------------------------


def test_a_listener_gets_the_current_value_then_puts_and_patches_with_relative_paths(firebase_app):
    ref = root(firebase_app)
    ref.child("sessions/S1").set({"seq": 1})
    recorder = EventRecorder()
    registration = ref.child("sessions/S1").listen(recorder)
    try:
        recorder.wait_for_count(1)
        ref.child("sessions/S1/answers/st1").set({"choice": 2})
        ref.child("sessions/S1").update({"seq": 2, "answers/st2": {"choice": 0}})
        ref.update({"sessions/S1/seq": 3, "sessions/S2/seq": 9})
        ref.child("sessions/S2").set({"seq": 10})
        ref.child("sessions").set({"S1": {"seq": 4}})
        events = recorder.wait_for_count(5)
    finally:
        registration.close()

    assert events == [
        ("put", "/", {"seq": 1}),
        ("put", "/answers/st1", {"choice": 2}),
        ("patch", "/", {"seq": 2, "answers/st2": {"choice": 0}}),
        ("patch", "/", {"seq": 3}),
        # The write to S2 is not seen; the overwrite of the parent arrives as a new value.
        ("put", "/", {"seq": 4}),
    ]


def test_several_listeners_run_at_once_and_stop_cleanly(firebase_app, firebase_standin):
    ref = root(firebase_app)
    first, second = EventRecorder(), EventRecorder()
    one = ref.child("a").listen(first)
    two = ref.child("b").listen(second)
    first.wait_for_count(1)
    second.wait_for_count(1)
    assert firebase_standin.listener_count == 2

    one.close()
    ref.child("a").set(1)
    ref.child("b").set(2)
    second.wait_for_count(2)
    two.close()

    assert first.events == [("put", "/", None)]
    assert second.events == [("put", "/", None), ("put", "/", 2)]
    deadline = time.monotonic() + 5
    while firebase_standin.listener_count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert firebase_standin.listener_count == 0


def test_a_listener_whose_credential_is_revoked_reconnects_and_gets_the_value_again(
    firebase_app, firebase_standin
):
    ref = root(firebase_app).child("a")
    ref.set(1)
    recorder = EventRecorder()
    registration = ref.listen(recorder)
    try:
        recorder.wait_for_count(1)
        firebase_standin.revoke_auth()
        events = recorder.wait_for_count(2)
    finally:
        registration.close()

    assert events == [("put", "/", 1), ("put", "/", 1)]
    assert firebase_standin.request_counts()["LISTEN"] == 2


def test_an_update_from_above_reaches_a_listener_as_one_event_per_update(firebase_app):
    ref = root(firebase_app)
    recorder = EventRecorder()
    registration = ref.child("sessions/S1").listen(recorder)
    try:
        recorder.wait_for_count(1)
        ref.update({"sessions/S1/a": 1, "sessions/S1/b": {"c": 2}, "elsewhere": 3})
        ref.update({"sessions/S1": {"seq": 5}, "elsewhere": 4})
        ref.update({"elsewhere": 5})
        ref.child("sessions/S1/seq").set(6)
        ref.update({"sessions/S1/x/y": 7, "elsewhere": 6})
        events = recorder.wait_for_count(5)
    finally:
        registration.close()

    assert events == [
        ("put", "/", None),
        ("patch", "/", {"a": 1, "b": {"c": 2}}),
        ("put", "/", {"seq": 5}),
        ("put", "/seq", 6),
        # Keys of a patch event are paths relative to the event's path.
        ("patch", "/", {"x/y": 7}),
    ]


def test_a_listener_whose_reconnection_fails_stops_for_good(firebase_app, firebase_standin, monkeypatch):
    # firebase-admin's listener thread reconnects 3 s after its stream ends; if the database is
    # still down then, the thread dies and the callback is never called again.
    died = []
    monkeypatch.setattr(threading, "excepthook", died.append)
    recorder = EventRecorder()
    registration = root(firebase_app).child("a").listen(recorder)
    recorder.wait_for_count(1)

    firebase_standin.go_down("refuse")
    registration._thread.join(timeout=10)
    firebase_standin.come_up()
    root(firebase_app).child("a").set(1)

    assert not registration._thread.is_alive()
    assert len(died) == 1
    assert recorder.events == [("put", "/", None)]
    registration.close()


def test_cancelled_listeners_are_closed_and_others_keep_running(firebase_app, firebase_standin):
    ref = root(firebase_app)
    cancelled, kept = EventRecorder(), EventRecorder()
    one = ref.child("private/st1").listen(cancelled)
    two = ref.child("public").listen(kept)
    cancelled.wait_for_count(1)
    kept.wait_for_count(1)

    assert firebase_standin.cancel_listeners(FIREBASE_TEST_NAMESPACE, "/private") == 1
    assert firebase_standin.listener_count == 1
    ref.child("public/x").set(1)
    kept.wait_for_count(2)
    one.close()
    two.close()

    assert cancelled.events == [("put", "/", None)]


# --- shards and namespaces ----------------------------------------------------------------------


def test_two_database_urls_are_two_separate_shards(firebase_app, firebase_standin):
    other_url = "https://peardeck-shard-2.firebaseio.com"
    root(firebase_app).child("x").set("first shard")
    db.reference("/x", app=firebase_app, url=other_url).set("second shard")

    assert root(firebase_app).child("x").get() == "first shard"
    assert db.reference("/x", app=firebase_app, url=other_url).get() == "second shard"
    assert firebase_standin.data("peardeck-shard-2") == {"x": "second shard"}
    assert firebase_standin.request_counts(FIREBASE_TEST_NAMESPACE) == {"PUT": 1, "GET": 1}
    assert firebase_standin.request_counts("peardeck-shard-2") == {"PUT": 1, "GET": 1}


def test_an_http_database_url_with_ns_reaches_it_without_the_environment_variable(
    firebase_standin, monkeypatch
):
    monkeypatch.delenv("FIREBASE_DATABASE_EMULATOR_HOST")
    app = firebase_admin.initialize_app(
        options={"databaseURL": firebase_standin.database_url("by-url")}, name=f"standin-{uuid.uuid4().hex}"
    )
    try:
        db.reference("/k", app=app).set("v")
        assert firebase_standin.data("by-url") == {"k": "v"}
    finally:
        firebase_admin.delete_app(app)


def test_without_ns_the_namespace_comes_from_the_host_name(firebase_standin):
    request = urllib.request.Request(
        f"http://{firebase_standin.address}/k.json",
        data=b"1",
        method="PUT",
        headers={"Host": "shard-9.localhost"},
    )
    urllib.request.urlopen(request, timeout=5).close()

    assert firebase_standin.data("shard-9") == {"k": 1}


def test_a_body_that_is_not_json_is_refused_with_400(firebase_standin):
    request = urllib.request.Request(
        f"http://{firebase_standin.address}/k.json?ns=x", data=b"{not json", method="PUT"
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)

    assert refused.value.code == 400
    assert "error" in json.loads(refused.value.read())
    assert firebase_standin.data("x") is None


def test_the_settings_fixture_points_every_shard_at_the_stand_in(firebase_settings, firebase_standin):
    app = firebase_admin.initialize_app(
        credentials.Certificate(firebase_settings.FIREBASE_CREDENTIALS_FILE),
        options={"databaseURL": firebase_settings.FIREBASE_DATABASE_URLS[0]},
        name=f"standin-{uuid.uuid4().hex}",
    )
    try:
        for n, url in enumerate(firebase_settings.FIREBASE_DATABASE_URLS):
            db.reference("/shard", app=app, url=url).set(n)
    finally:
        firebase_admin.delete_app(app)

    assert firebase_standin.address == firebase_settings.FIREBASE_DATABASE_EMULATOR_HOST
    assert [firebase_standin.data(ns) for ns in FIREBASE_TEST_SHARDS] == [{"shard": 0}, {"shard": 1}]


# --- auth -------------------------------------------------------------------------------------


def test_the_sdk_sends_the_emulator_owner_credential_and_it_is_recorded(firebase_app, firebase_standin):
    root(firebase_app).get()

    assert [entry[2] for entry in firebase_standin.authorizations] == ["Bearer owner"]


def test_with_owner_required_other_credentials_are_refused(monkeypatch):
    with StandIn(accepted_tokens={"owner"}) as standin:
        monkeypatch.setenv("FIREBASE_DATABASE_EMULATOR_HOST", standin.address)
        app = firebase_admin.initialize_app(
            options={"databaseURL": "https://ns.firebaseio.com"}, name=f"standin-{uuid.uuid4().hex}"
        )
        try:
            db.reference("/a", app=app).set(1)
        finally:
            firebase_admin.delete_app(app)
        request = urllib.request.Request(
            f"http://{standin.address}/a.json?ns=ns", headers={"Authorization": "Bearer student"}
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code == 401
        with urllib.request.urlopen(f"http://{standin.address}/a.json?ns=ns&auth=owner", timeout=5) as answer:
            assert json.loads(answer.read()) == 1
        assert standin.data("ns") == {"a": 1}


def test_a_custom_token_is_minted_offline_from_a_generated_service_account(firebase_service_account):
    info = json.loads(firebase_service_account.read_text())
    app = firebase_admin.initialize_app(
        credentials.Certificate(str(firebase_service_account)), name=f"standin-{uuid.uuid4().hex}"
    )
    try:
        token = auth.create_custom_token("student-42", {"session": "ABC123"}, app=app)
    finally:
        firebase_admin.delete_app(app)

    claims = jwt.decode(token, certs=public_key_pem(info))
    assert claims["uid"] == "student-42"
    assert claims["claims"] == {"session": "ABC123"}
    assert claims["iss"] == info["client_email"]
    with pytest.raises(ValueError):
        jwt.decode(token, certs=public_key_pem(service_account_info()))


# --- faults and counters ----------------------------------------------------------------------


def test_when_the_database_refuses_connections_the_sdk_raises_and_recovers_after(
    firebase_app, firebase_standin
):
    ref = root(firebase_app).child("a")
    ref.set(1)

    firebase_standin.go_down("refuse")
    with pytest.raises(exceptions.UnavailableError):
        ref.get()
    firebase_standin.come_up()

    assert ref.get() == 1


def test_when_the_database_drops_connections_writes_fail_and_nothing_is_stored(
    firebase_app, firebase_standin
):
    ref = root(firebase_app).child("a")
    ref.get()
    firebase_standin.go_down("drop")

    with pytest.raises(exceptions.UnavailableError):
        ref.set(1)
    firebase_standin.come_up()

    assert ref.get() is None


def test_going_down_closes_open_listeners(firebase_app, firebase_standin):
    recorder = EventRecorder()
    registration = root(firebase_app).child("a").listen(recorder)
    recorder.wait_for_count(1)
    assert firebase_standin.listener_count == 1

    firebase_standin.go_down("refuse")

    assert firebase_standin.listener_count == 0
    firebase_standin.come_up()
    # The SDK reconnects by itself once the database is back (after its 3 s retry delay).
    recorder.wait_for_count(2, timeout=10)
    registration.close()


def test_a_hanging_database_makes_the_sdk_time_out_after_one_retry(firebase_standin):
    app = firebase_admin.initialize_app(
        options={"databaseURL": firebase_standin.database_url("ns"), "httpTimeout": 0.3},
        name=f"standin-{uuid.uuid4().hex}",
    )
    try:
        firebase_standin.go_down("hang")
        started = time.monotonic()
        # urllib3 retries a read timeout once, then it surfaces as "unavailable", not as a deadline.
        with pytest.raises(exceptions.UnavailableError, match="Read timed out"):
            db.reference("/a", app=app).get()
        assert time.monotonic() - started >= 0.6
    finally:
        firebase_standin.come_up()
        firebase_admin.delete_app(app)


def test_a_few_injected_503s_are_retried_by_the_sdk_and_counted(firebase_app, firebase_standin):
    firebase_standin.fail_requests(503, count=2)

    root(firebase_app).child("a").set(1)

    assert firebase_standin.request_counts() == {"PUT": 3}
    assert firebase_standin.injected_failures == 2
    assert firebase_standin.data(FIREBASE_TEST_NAMESPACE) == {"a": 1}


def test_a_persistent_503_surfaces_after_the_sdk_has_tried_five_times(firebase_app, firebase_standin):
    firebase_standin.fail_requests(503)

    with pytest.raises(exceptions.UnavailableError, match="injected"):
        root(firebase_app).child("a").set(1)

    assert firebase_standin.request_counts() == {"PUT": 5}
    firebase_standin.stop_failing()
    root(firebase_app).child("a").set(1)
    assert firebase_standin.data(FIREBASE_TEST_NAMESPACE) == {"a": 1}


def test_added_latency_slows_every_request_by_that_much(firebase_app, firebase_standin):
    ref = root(firebase_app).child("a")
    ref.get()
    firebase_standin.set_latency(0.3)

    started = time.monotonic()
    ref.set(1)
    ref.get()
    elapsed = time.monotonic() - started

    assert elapsed >= 0.6
    firebase_standin.set_latency(0)
    started = time.monotonic()
    ref.get()
    assert time.monotonic() - started < 0.3


def test_requests_are_counted_by_method(firebase_app, firebase_standin):
    ref = root(firebase_app)
    for n in range(3):
        ref.child(f"a/{n}").set(n)
    ref.update({"b": 1, "c": 2})
    ref.child("list").push(1)
    ref.child("a/0").delete()
    ref.get()

    assert firebase_standin.request_counts() == {"PUT": 3, "PATCH": 1, "POST": 1, "DELETE": 1, "GET": 1}
    assert firebase_standin.write_count() == 6
    firebase_standin.reset_counts()
    assert firebase_standin.request_counts() == {}


def test_the_control_endpoint_switches_faults_over_http(firebase_app, firebase_standin):
    ref = root(firebase_app).child("a")

    control(firebase_standin, "fail", {"status": 500, "count": 1})
    ref.set(1)
    assert control(firebase_standin, "stats")["injected_failures"] == 1

    control(firebase_standin, "down", {"mode": "drop"})
    with pytest.raises(exceptions.UnavailableError):
        ref.get()
    control(firebase_standin, "up")
    assert ref.get() == 1

    # Long enough that the SDK's own retries (about 7 s of backoff) give up before it comes back,
    # even on a loaded machine.
    control(firebase_standin, "down", {"mode": "refuse", "seconds": 12})
    with pytest.raises(exceptions.UnavailableError):
        ref.get()
    deadline = time.monotonic() + 15
    while firebase_standin.down_mode and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ref.get() == 1
    # Requests that were dropped or refused never reached the database and are not counted.
    assert control(firebase_standin, "stats")["requests"] == {"PUT": 2, "GET": 2}


# --- standalone -------------------------------------------------------------------------------


def test_the_stand_in_runs_standalone_and_stops_on_sigterm():
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.firebase_standin", "--port", "0"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    try:
        first_line = process.stdout.readline()
        address = first_line.rsplit("http://", 1)[1].strip()
        request = urllib.request.Request(f"http://{address}/a.json?ns=x", data=b'{"b": 1}', method="PUT")
        with urllib.request.urlopen(request, timeout=5) as response:
            assert json.loads(response.read()) == {"b": 1}
        with urllib.request.urlopen(f"http://{address}/a/b.json?ns=x", timeout=5) as response:
            assert json.loads(response.read()) == 1
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_a_write_arriving_while_a_listener_connects_is_never_lost(firebase_app):
    ref = root(firebase_app).child("race")
    stop = threading.Event()

    def writer():
        n = 0
        while not stop.is_set() and n < 200:
            ref.child(f"k{n}").set(n)
            n += 1

    thread = threading.Thread(target=writer)
    thread.start()
    recorder = EventRecorder()
    registration = ref.listen(recorder)
    thread.join()
    stop.set()
    final = ref.get()
    # Replaying the events must give exactly the final state.
    recorder.wait_for(lambda events: _replay(events) == final)
    registration.close()


def _replay(events):
    state = {}
    for kind, path, data in events:
        if kind == "put" and path == "/":
            state = dict(data or {})
        elif kind == "put":
            key = path.strip("/")
            if data is None:
                state.pop(key, None)
            else:
                state[key] = data
    return state or None
