"""database.rules.json, evaluated by targaryen (npm, installed by scripts/install-test-tools).

Only students get custom tokens (uid `student-<id>`, claims `session` and `role`); the other
auths here are what a forged or misused token would look like. Each case is one test.
"""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
RULES = ROOT / "database.rules.json"

ARNOLD = {"uid": "student-7", "token": {"session": "12", "role": "student"}}
WANDA = {"uid": "student-8", "token": {"session": "12", "role": "student"}}
PHOEBE = {"uid": "student-9", "token": {"session": "13", "role": "student"}}
REMOVED = {"uid": "student-6", "token": {"session": "12", "role": "student"}}  # removed by the teacher
TEACHER = {"uid": "teacher-1", "token": {"session": "12", "role": "teacher"}}
PROJECTOR = {"uid": "projector-12", "token": {"session": "12", "role": "projector"}}
ANONYMOUS = None

ANSWER = {"question_id": 31, "answer": {"choices": [1]}}

DATA = {
    "sessions": {
        "12": {
            "seq": 5,
            "state": "live",
            "question": {"id": 31, "kind": "multiple_choice"},
            "removed": {"student-6": True},
        },
        "13": {"seq": 2, "state": "live"},
    },
    "inbox": {
        "12": {
            "student-7": {"sent-before": ANSWER},
            "student-8": {"wanda-1": {"question_id": 31, "answer": {"text": "secret"}}},
        }
    },
    "acks": {
        "12": {
            "student-7": {"a1": {"status": "stored", "version": 1}},
            "student-8": {"w1": {"status": "stored", "version": 1}},
        }
    },
    "probes": {"europe-west1": {"nonce": "x"}},
}

# (sentence, auth, operation, path, value, allowed)
CASES = [
    # reads
    ("a student reads their own session's state", ARNOLD, "read", "/sessions/12", None, True),
    ("a student cannot read another session's state", PHOEBE, "read", "/sessions/12", None, False),
    ("a removed student cannot read the session's state", REMOVED, "read", "/sessions/12", None, False),
    ("a student cannot list every session", ARNOLD, "read", "/sessions", None, False),
    ("an anonymous client cannot read a session's state", ANONYMOUS, "read", "/sessions/12", None, False),
    ("a teacher token cannot read a session's state", TEACHER, "read", "/sessions/12", None, False),
    ("a projector token cannot read a session's state", PROJECTOR, "read", "/sessions/12", None, False),
    ("a student reads their own acknowledgements", ARNOLD, "read", "/acks/12/student-7", None, True),
    (
        "a student cannot read another student's acknowledgements",
        ARNOLD,
        "read",
        "/acks/12/student-8",
        None,
        False,
    ),
    ("a student cannot read another student's inbox", ARNOLD, "read", "/inbox/12/student-8", None, False),
    (
        "a student cannot read one answer of another student",
        ARNOLD,
        "read",
        "/inbox/12/student-8/wanda-1",
        None,
        False,
    ),
    ("a student cannot read the session's whole inbox", ARNOLD, "read", "/inbox/12", None, False),
    ("a teacher token cannot read the students' answers", TEACHER, "read", "/inbox/12", None, False),
    (
        "a projector token cannot read the students' answers",
        PROJECTOR,
        "read",
        "/inbox/12/student-8",
        None,
        False,
    ),
    ("an anonymous client cannot read the students' answers", ANONYMOUS, "read", "/inbox/12", None, False),
    ("nobody reads the root", ARNOLD, "read", "/", None, False),
    ("a student cannot read the probe's node", ARNOLD, "read", "/probes/europe-west1", None, False),
    # writes
    (
        "a student writes a well-formed answer into their own inbox",
        ARNOLD,
        "write",
        "/inbox/12/student-7/s-1",
        ANSWER,
        True,
    ),
    (
        "a student writes every kind of answer shape the backend accepts",
        ARNOLD,
        "write",
        "/inbox/12/student-7/s-2",
        {"question_id": 33, "answer": {"strokes": [{"points": [[0.1, 0.2]], "color": "#000", "width": 2}]}},
        True,
    ),
    (
        "a removed student cannot write an answer",
        REMOVED,
        "write",
        "/inbox/12/student-6/s-1",
        ANSWER,
        False,
    ),
    (
        "a student cannot write into another student's inbox",
        ARNOLD,
        "write",
        "/inbox/12/student-8/s-1",
        ANSWER,
        False,
    ),
    (
        "a student cannot write into their uid's inbox in another session",
        PHOEBE,
        "write",
        "/inbox/12/student-9/s-1",
        ANSWER,
        False,
    ),
    (
        "a student cannot overwrite an answer already in the inbox",
        ARNOLD,
        "write",
        "/inbox/12/student-7/sent-before",
        ANSWER,
        False,
    ),
    (
        "a student cannot delete an answer from the inbox",
        ARNOLD,
        "write",
        "/inbox/12/student-7/sent-before",
        None,
        False,
    ),
    (
        "a student cannot write their whole inbox at once",
        ARNOLD,
        "write",
        "/inbox/12/student-7",
        {"s-3": ANSWER},
        False,
    ),
    (
        "an anonymous client cannot write an answer",
        ANONYMOUS,
        "write",
        "/inbox/12/student-7/s-1",
        ANSWER,
        False,
    ),
    ("a teacher token cannot write an answer", TEACHER, "write", "/inbox/12/teacher-1/s-1", ANSWER, False),
    (
        "a projector token cannot write an answer",
        PROJECTOR,
        "write",
        "/inbox/12/projector-12/s-1",
        ANSWER,
        False,
    ),
    (
        "an answer without its answer is refused",
        ARNOLD,
        "write",
        "/inbox/12/student-7/s-4",
        {"question_id": 31},
        False,
    ),
    (
        "an answer without a question is refused",
        ARNOLD,
        "write",
        "/inbox/12/student-7/s-5",
        {"answer": {"text": "x"}},
        False,
    ),
    (
        "an answer whose question_id is text is refused",
        ARNOLD,
        "write",
        "/inbox/12/student-7/s-6",
        {"question_id": "31", "answer": {"text": "x"}},
        False,
    ),
    (
        "an answer whose question_id is a fraction is refused",
        ARNOLD,
        "write",
        "/inbox/12/student-7/s-7",
        {"question_id": 31.5, "answer": {"text": "x"}},
        False,
    ),
    (
        "an answer that is a bare string is refused",
        ARNOLD,
        "write",
        "/inbox/12/student-7/s-8",
        {"question_id": 31, "answer": "B"},
        False,
    ),
    (
        "an answer with an extra field is refused",
        ARNOLD,
        "write",
        "/inbox/12/student-7/s-9",
        {"question_id": 31, "answer": {"text": "x"}, "student_id": 8},
        False,
    ),
    (
        "a student writes an answer with their order of answers",
        ARNOLD,
        "write",
        "/inbox/12/student-7/s-11",
        {**ANSWER, "order": 1733328000000123},
        True,
    ),
    (
        "an order that is text is refused",
        ARNOLD,
        "write",
        "/inbox/12/student-7/s-12",
        {**ANSWER, "order": "1733328000000123"},
        False,
    ),
    (
        "an order that is a fraction is refused",
        ARNOLD,
        "write",
        "/inbox/12/student-7/s-13",
        {**ANSWER, "order": 1.5},
        False,
    ),
    (
        "a negative order is refused",
        ARNOLD,
        "write",
        "/inbox/12/student-7/s-14",
        {**ANSWER, "order": -1},
        False,
    ),
    (
        "an order of 2**53 or more is refused",
        ARNOLD,
        "write",
        "/inbox/12/student-7/s-15",
        {**ANSWER, "order": 2**53},
        False,
    ),
    (
        "a submission id longer than 64 characters is refused",
        ARNOLD,
        "write",
        "/inbox/12/student-7/" + "s" * 65,
        ANSWER,
        False,
    ),
    ("a student cannot write the session's state", ARNOLD, "write", "/sessions/12/seq", 99, False),
    (
        "a student cannot write their own acknowledgement",
        ARNOLD,
        "write",
        "/acks/12/student-7/s-1",
        {"status": "stored"},
        False,
    ),
    (
        "a student cannot write the probe's node",
        ARNOLD,
        "write",
        "/probes/europe-west1",
        {"nonce": "y"},
        False,
    ),
    (
        "a multi-path update of only their own inbox is allowed",
        ARNOLD,
        "update",
        "/",
        {"inbox/12/student-7/s-10": ANSWER},
        True,
    ),
    (
        "a multi-path update reaching another student's inbox is refused whole",
        ARNOLD,
        "update",
        "/",
        {"inbox/12/student-7/s-11": ANSWER, "inbox/12/student-8/s-11": ANSWER},
        False,
    ),
]


@pytest.fixture(scope="module")
def verdicts() -> dict[str, dict]:
    node = shutil.which("node")
    assert node, "node is missing: run scripts/install-test-tools"
    assert (HERE / "node_modules" / "targaryen").is_dir(), (
        "targaryen is missing: run scripts/install-test-tools"
    )
    request = {
        "rules": str(RULES),
        "data": DATA,
        "cases": [
            {"name": name, "auth": auth, "op": op, "path": path, "value": value}
            for name, auth, op, path, value, _allowed in CASES
        ],
    }
    completed = subprocess.run(
        [node, str(HERE / "run_rules.js")],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        cwd=HERE,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return {result["name"]: result for result in json.loads(completed.stdout)}


@pytest.mark.parametrize(
    ("name", "allowed"), [(case[0], case[5]) for case in CASES], ids=[case[0] for case in CASES]
)
def test_rule(verdicts, name, allowed):
    verdict = verdicts[name]
    assert verdict["allowed"] is allowed, verdict["info"]


def test_every_case_has_its_own_name():
    assert len({case[0] for case in CASES}) == len(CASES)
