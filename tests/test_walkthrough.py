"""The README's walk-through, against a real gunicorn server, using only the documented API."""

import csv
import io
import os
import uuid

import httpx
import pytest

from tests.support.server import fresh_postgres_database, ok, running_server

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("walkthrough")
    env = {"PEARDECK_VAR_DIR": str(tmp), "DEBUG": "false"}
    if os.environ.get("DATABASE_URL"):
        env["DATABASE_URL"] = fresh_postgres_database(os.environ["DATABASE_URL"], "walkthrough")
    else:
        env["SQLITE_PATH"] = str(tmp / "walkthrough.sqlite3")
    with running_server(env, log_path=tmp / "gunicorn.log") as base:
        yield base


def test_a_whole_class_runs_through_the_documented_api(server):
    api = f"{server}/api"
    openapi = httpx.get(f"{api}/openapi.json").json()
    assert "/api/student/responses" in openapi["paths"]
    assert httpx.get(f"{api}/docs").status_code == 200

    username = f"teacher-{uuid.uuid4().hex[:8]}"
    token = ok(
        httpx.post(f"{api}/auth/signup", json={"username": username, "password": "walk-through-2024"}), 201
    )["api_token"]["token"]
    teacher = httpx.Client(base_url=api, headers={"Authorization": f"Bearer {token}"})

    deck = ok(teacher.post("/decks", json={"title": "Walk-through"}), 201)
    questions = {}
    for kind, config in [
        ("multiple_choice", {"choices": ["Paris", "Rome", "Madrid"], "correct": [0]}),
        ("text", {"max_length": 200}),
        ("number", {"min": 0, "max": 10}),
        ("draggable", {}),
        ("drawing", {}),
        ("slide", {"body": "Thanks for taking part"}),
    ]:
        questions[kind] = ok(
            teacher.post(
                f"/decks/{deck['id']}/questions", json={"kind": kind, "prompt": kind, "config": config}
            ),
            201,
        )

    session = ok(teacher.post("/sessions", json={"deck_id": deck["id"], "pacing": "student"}), 201)
    sid, code = session["id"], session["join_code"]
    ok(teacher.post(f"/sessions/{sid}/start"))

    students = {}
    for name in ("Ada", "Grace", "Linus"):
        joined = ok(httpx.post(f"{api}/join", json={"join_code": code.lower(), "display_name": name}), 201)
        assert joined["state"]["join_code"] == code and joined["student"]["display_name"] == name
        students[name] = httpx.Client(base_url=api, headers={"Authorization": f"Bearer {joined['token']}"})

    def submit(name, kind, answer_body):
        return students[name].post(
            "/student/responses",
            json={
                "question_id": questions[kind]["id"],
                "submission_id": uuid.uuid4().hex,
                "answer": answer_body,
            },
        )

    ok(submit("Ada", "multiple_choice", {"choices": [0]}), 201)
    ok(submit("Grace", "text", {"text": "Bonjour"}), 201)
    ok(submit("Linus", "number", {"value": 7}), 201)
    ok(submit("Ada", "draggable", {"x": 0.5, "y": 0.25}), 201)
    ok(submit("Grace", "drawing", {"strokes": [{"points": [[0.1, 0.1], [0.9, 0.9]]}]}), 201)
    ok(submit("Linus", "multiple_choice", {"choices": [1]}), 201)
    # Linus changes his mind.
    assert ok(submit("Linus", "multiple_choice", {"choices": [0]}), 201)["version"] == 2

    ok(teacher.post(f"/sessions/{sid}/lock", json={"question_id": questions["multiple_choice"]["id"]}))
    late = submit("Linus", "multiple_choice", {"choices": [2]})
    assert late.status_code == 409
    assert late.json()["error"]["code"] == "question_locked"

    tallies = ok(teacher.get(f"/sessions/{sid}/tallies"))["tallies"]
    choice = next(t for t in tallies if t["question_id"] == questions["multiple_choice"]["id"])
    assert choice["counts"] == [2, 0, 0]

    ok(teacher.post(f"/sessions/{sid}/end"))
    exported = teacher.get(f"/sessions/{sid}/export.csv")
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    finals = {(row["student"], row["kind"]): row["answer"] for row in rows}
    positions = {row["kind"]: int(row["position"]) for row in rows}
    assert positions == {kind: questions[kind]["position"] for kind in positions}
    assert finals[("Linus", "multiple_choice")] == "Paris"
    assert finals[("Grace", "text")] == "Bonjour"
    assert finals[("Linus", "number")] == "7"
    assert len(rows) == 6

    read = ok(students["Ada"].get("/student/takeaways"))
    assert read["session"]["deck"] == {"id": deck["id"], "title": "Walk-through"}
    mine = {item["question"]["kind"]: item for item in read["takeaways"]}
    assert mine["multiple_choice"]["is_correct"] is True
    assert mine["draggable"]["answer"] == {"x": 0.5, "y": 0.25}
    assert mine["text"]["answer"] is None


def test_the_health_endpoints_report_the_version(server):
    health = httpx.get(f"{server}/healthz").json()
    assert health["status"] == "ok"
    assert {"version", "commit"} <= set(health)
    assert httpx.get(f"{server}/readyz").status_code == 200
