"""schemathesis (pinned in requirements-test.txt) against a real gunicorn, over every operation of
/api/openapi.json, each with its own caller's credentials: a teacher's API token, a student's token
and a projector key (the document's security schemes TeacherToken, StudentToken, ProjectorKey).

Checks: no server error, every status declared by its operation, every body valid against its
declared schema, and (tests/support/schemathesis_hooks.py) every error code among those its
operation declares for that status. Examples per operation are bounded, so the run takes well under
a minute or two; SCHEMATHESIS_MAX_EXAMPLES and SCHEMATHESIS_SEED change it.

The student and the projector belong to another teacher's class than the fuzzed teacher's, so
nothing the fuzzed teacher does (ending, removing students, new projector keys) takes their
credentials away mid-run. Revoking API tokens runs last, on its own, with a teacher of its own.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.classroom import GOOD_ANSWERS, open_class, sign_up_teacher
from tests.support.server import ROOT, fresh_postgres_database, ok, running_server

pytestmark = pytest.mark.timeout(600)

SCHEMATHESIS = Path(sys.executable).parent / "st"
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "10"))
SEED = os.environ.get("SCHEMATHESIS_SEED", "20240916")
CHECKS = ["not_a_server_error", "status_code_conformance", "response_schema_conformance"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("openapi-fuzz")
    env = {"PEARDECK_VAR_DIR": str(tmp), "DEBUG": "false"}
    if os.environ.get("DATABASE_URL"):
        env["DATABASE_URL"] = fresh_postgres_database(os.environ["DATABASE_URL"], "openapi_fuzz")
    else:
        env["SQLITE_PATH"] = str(tmp / "fuzz.sqlite3")
    with running_server(env, log_path=tmp / "gunicorn.log") as base:
        base.log_path = tmp / "gunicorn.log"
        yield base


def _answer(base: str, token: str, question: dict, submission_id: str) -> dict:
    body = {
        "question_id": question["id"],
        "submission_id": submission_id,
        "answer": GOOD_ANSWERS[question["kind"]],
    }
    headers = {"Authorization": f"Bearer {token}"}
    return ok(httpx.post(f"{base}/api/student/responses", json=body, headers=headers), 201)


@pytest.fixture(scope="module")
def world(server) -> dict:
    """Credentials and real ids for the run: a watched class (the student's and the projector's)
    and the fuzzed teacher's own decks, a live class with answers and an ended one."""
    watched = open_class(server, students=["Ada"])
    _answer(server, watched.token("Ada"), watched.questions[0], "fuzz-seed-1")
    teacher = sign_up_teacher(server)
    # Signed up now: the fuzzing of signup spends the address's login attempts.
    revoker = sign_up_teacher(server)
    own = open_class(server, teacher=teacher, students=["Bo", "Cy"], pacing="student")
    for name in ("Bo", "Cy"):
        _answer(server, own.token(name), own.questions[0], f"fuzz-{name}")
    ended = open_class(server, teacher=teacher, students=["Di"])
    _answer(server, ended.token("Di"), ended.questions[0], "fuzz-ended")
    with teacher.client(server) as api:
        ok(api.post(f"/sessions/{ended.session_id}/end"))
        responses = ok(api.get(f"/sessions/{own.session_id}/responses"))["items"]
        students = ok(api.get(f"/sessions/{own.session_id}"))["students"]
    ids = {
        own.deck["id"],
        own.session_id,
        ended.session_id,
        *(question["id"] for question in own.questions),
        *(response["id"] for response in responses),
        *(student["id"] for student in students),
    }
    return {
        "teacher": teacher.token,
        "revoker": revoker.token,
        "student": watched.token("Ada"),
        "projector": watched.session["projector_key"],
        "ids": sorted(ids),
        "join_codes": [own.join_code, watched.join_code],
    }


def _config(world: dict, teacher_token: str) -> str:
    checks = "".join(f"{check} = {{ enabled = true }}\n" for check in CHECKS)
    return f"""
hooks = "tests.support.schemathesis_hooks"
seed = {SEED}

[auth.openapi]
TeacherToken = {{ bearer = {json.dumps(teacher_token)} }}
StudentToken = {{ bearer = {json.dumps(world["student"])} }}
ProjectorKey = {{ bearer = {json.dumps(world["projector"])} }}

# Half of the integers (ids, mostly) and join codes are real ones, so the fuzzing reaches the
# endpoints' own logic and not only their 404s.
[dictionaries.ids]
values = {json.dumps(world["ids"])}

[dictionaries.join_codes]
values = {json.dumps(world["join_codes"])}

[parameters]
"body.join_code" = {{ dictionary = "join_codes", probability = 0.5 }}

[generation]
max-examples = {MAX_EXAMPLES}
no-shrink = true
dictionaries = {{ integer = {{ dictionary = "ids", probability = 0.5 }} }}

[phases]
stateful = {{ enabled = false }}

[checks]
enabled = false
declared_error_codes = {{ enabled = true }}
{checks}"""


def _schemathesis(server, config_path: Path, *selection: str, report: Path) -> subprocess.CompletedProcess:
    command = [
        str(SCHEMATHESIS),
        "--config-file",
        str(config_path),
        "--no-color",
        "run",
        f"{server}/api/openapi.json",
        "--workers",
        os.environ.get("SCHEMATHESIS_WORKERS", "1"),
        "--report",
        "junit",
        "--report-junit-path",
        str(report),
        *selection,
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=500)


def _assert_clean(run: subprocess.CompletedProcess, server) -> str:
    output = run.stdout + run.stderr
    # Lines cut at 300 characters: an internal error of schemathesis can quote whole source files.
    tail = "\n".join(line[:300] for line in output.splitlines()[-80:])
    print(output)  # the run's summary and warnings, for `pytest -s`
    assert run.returncode == 0, f"schemathesis found failures:\n{tail}\n(server log: {server.log_path})"
    # A clean run ends "No issues found", or with its warnings counted ("1 warning in", "2 warnings in").
    assert "No issues found" in output or re.search(r"\d+ warnings? in ", output), tail
    return output


def test_every_operation_keeps_its_documented_contract_under_fuzzing(server, world, tmp_path):
    document = httpx.get(f"{server}/api/openapi.json").json()
    operation_ids = {
        operation["operationId"] for item in document["paths"].values() for operation in item.values()
    }
    config = tmp_path / "schemathesis.toml"
    config.write_text(_config(world, world["teacher"]))
    report = tmp_path / "junit.xml"
    output = _assert_clean(
        _schemathesis(server, config, "--exclude-operation-id", "revoke_api_token", report=report), server
    )
    tested = output.split("Tested:")[1].split()[0]
    assert int(tested) == len(operation_ids) - 1, output

    # Revoking tokens last, with a teacher who needs theirs for nothing else.
    config.write_text(_config(world, world["revoker"]))
    output = _assert_clean(
        _schemathesis(server, config, "--include-operation-id", "revoke_api_token", report=report), server
    )
    assert "Tested: 1" in " ".join(output.split()), output
