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

NOW = 1_700_000_000_000  # the server's clock in the rules, in milliseconds
SERVER_TIME = {".sv": "timestamp"}
ANSWER = {"question_id": 31, "answer": {"choices": [1]}, "at": SERVER_TIME}
DRAWING = '[{"points":[[0.1,0.2],[0.3,0.4]],"color":"#000000","width":2}]'


def sending(
    session: str, uid: str, submission: str, entry: dict | None = None, *, marker: dict | None = None
) -> dict:
    """The one multi-path update a page writes per answer: the entry, and the student's `sent`
    marker naming it (the rules let the marker move at most every 250 ms)."""
    return {
        f"inbox/{session}/{uid}/{submission}": ANSWER if entry is None else entry,
        f"sent/{session}/{uid}": marker if marker is not None else {"id": submission, "at": SERVER_TIME},
    }


def answer(value) -> dict:
    return {"question_id": 31, "answer": value, "at": SERVER_TIME}


DATA = {
    "sessions": {
        "12": {
            "seq": 5,
            "state": "live",
            "question": {"id": 31, "kind": "multiple_choice"},
            "removed": {"student-6": True},
        },
        "13": {"seq": 2, "state": "live"},
        "14": {"seq": 9, "state": "ended"},
        "15": {"seq": 1, "state": "waiting"},
    },
    "inbox": {
        "12": {
            "student-7": {"sent-before": {**ANSWER, "at": NOW - 60_000}},
            "student-8": {"wanda-1": {"question_id": 31, "answer": {"text": "secret"}, "at": NOW - 60_000}},
        }
    },
    # Wanda sent her last answer 100 ms ago; Arnold a minute ago.
    "sent": {
        "12": {
            "student-7": {"id": "sent-before", "at": NOW - 60_000},
            "student-8": {"id": "wanda-1", "at": NOW - 100},
        }
    },
    "acks": {
        "12": {
            "student-7": {"a1": {"status": "stored", "version": 1}},
            "student-8": {"w1": {"status": "stored", "version": 1}},
            "student-6": {"r1": {"status": "stored", "version": 1}},
        }
    },
    "probes": {"europe-west1": {"nonce": "x"}},
}

ENDED = {"uid": "student-10", "token": {"session": "14", "role": "student"}}
WAITING = {"uid": "student-11", "token": {"session": "15", "role": "student"}}
CLEARED = {"uid": "student-12", "token": {"session": "16", "role": "student"}}  # no document left

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
        "a removed student cannot read even their own acknowledgements",
        REMOVED,
        "read",
        "/acks/12/student-6",
        None,
        False,
    ),
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
    ("a student cannot read when others last sent", ARNOLD, "read", "/sent/12", None, False),
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
    # answers: the entry and the sent marker, in one update
    ("a student sends a well-formed answer", ARNOLD, "update", "/", sending("12", "student-7", "s-1"), True),
    (
        "an answer written alone, without its sent marker, is refused",
        ARNOLD,
        "write",
        "/inbox/12/student-7/s-1",
        ANSWER,
        False,
    ),
    (
        "a marker naming another submission does not carry the answer",
        ARNOLD,
        "update",
        "/",
        sending("12", "student-7", "s-1", marker={"id": "s-2", "at": SERVER_TIME}),
        False,
    ),
    (
        "two answers in one update are refused whole (no flood in one write)",
        ARNOLD,
        "update",
        "/",
        {**sending("12", "student-7", "s-1"), "inbox/12/student-7/s-2": ANSWER},
        False,
    ),
    (
        "an answer 100 ms after the student's last one is refused",
        WANDA,
        "update",
        "/",
        sending("12", "student-8", "wanda-2"),
        False,
    ),
    (
        "an answer 250 ms after the student's last one is allowed",
        WANDA,
        "update",
        "/",
        sending("12", "student-8", "wanda-2"),
        True,
        NOW + 150,
    ),
    (
        "a marker with a time the client made up is refused",
        ARNOLD,
        "update",
        "/",
        sending("12", "student-7", "s-1", marker={"id": "s-1", "at": NOW + 10_000}),
        False,
    ),
    (
        "an entry with a time the client made up is refused",
        ARNOLD,
        "update",
        "/",
        sending("12", "student-7", "s-1", {**ANSWER, "at": NOW - 1}),
        False,
    ),
    ("a student cannot delete their sent marker", WANDA, "write", "/sent/12/student-8", None, False),
    (
        "a student cannot set another student's sent marker",
        ARNOLD,
        "write",
        "/sent/12/student-8",
        {"id": "x", "at": SERVER_TIME},
        False,
    ),
    (
        "a student sends every kind of answer shape the backend accepts",
        ARNOLD,
        "update",
        "/",
        sending("12", "student-7", "s-2", answer({"strokes": DRAWING})),
        True,
    ),
    (
        "a text answer of 5000 characters is allowed",
        ARNOLD,
        "update",
        "/",
        sending("12", "student-7", "t-1", answer({"text": "x" * 5000})),
        True,
    ),
    (
        "a text answer of 5001 characters is refused",
        ARNOLD,
        "update",
        "/",
        sending("12", "student-7", "t-2", answer({"text": "x" * 5001})),
        False,
    ),
    (
        "a number answer is allowed",
        ARNOLD,
        "update",
        "/",
        sending("12", "student-7", "n-1", answer({"value": -1e308})),
        True,
    ),
    (
        "a number answer that is text is refused",
        ARNOLD,
        "update",
        "/",
        sending("12", "student-7", "n-2", answer({"value": "7"})),
        False,
    ),
    (
        "a point on the image is allowed",
        ARNOLD,
        "update",
        "/",
        sending("12", "student-7", "p-1", answer({"x": 0, "y": 1})),
        True,
    ),
    (
        "a point off the image is refused",
        ARNOLD,
        "update",
        "/",
        sending("12", "student-7", "p-2", answer({"x": 0.5, "y": 1.5})),
        False,
    ),
    (
        "ten choices are allowed",
        ARNOLD,
        "update",
        "/",
        sending("12", "student-7", "c-1", answer({"choices": list(range(10))})),
        True,
    ),
    (
        "eleven choices are refused",
        ARNOLD,
        "update",
        "/",
        sending("12", "student-7", "c-2", answer({"choices": list(range(11))})),
        False,
    ),
    (
        "a choice index past 9 is refused",
        ARNOLD,
        "update",
        "/",
        sending("12", "student-7", "c-3", answer({"choices": [10]})),
        False,
    ),
    (
        "a fractional choice is refused",
        ARNOLD,
        "update",
        "/",
        sending("12", "student-7", "c-4", answer({"choices": [0.5]})),
        False,
    ),
    (
        "a drawing of 256 KiB is allowed",
        ARNOLD,
        "update",
        "/",
        sending("12", "student-7", "d-1", answer({"strokes": "x" * 262_144})),
        True,
    ),
    (
        "a drawing over 256 KiB is refused",
        ARNOLD,
        "update",
        "/",
        sending("12", "student-7", "d-2", answer({"strokes": "x" * 262_145})),
        False,
    ),
    (
        "a drawing as a tree of strokes and points (of unbounded size) is refused",
        ARNOLD,
        "update",
        "/",
        sending("12", "student-7", "d-3", answer({"strokes": [{"points": [[0.1, 0.2]]}]})),
        False,
    ),
    (
        "an answer with a field no kind has is refused",
        ARNOLD,
        "update",
        "/",
        sending("12", "student-7", "o-1", answer({"text": "x", "padding": "y" * 1000})),
        False,
    ),
    (
        "a removed student cannot write an answer",
        REMOVED,
        "update",
        "/",
        sending("12", "student-6", "s-1"),
        False,
    ),
    ("no answer goes into an ended session", ENDED, "update", "/", sending("14", "student-10", "s-1"), False),
    (
        "no answer goes into a session that has not started",
        WAITING,
        "update",
        "/",
        sending("15", "student-11", "s-1"),
        False,
    ),
    (
        "no answer goes into a session already cleared from Firebase",
        CLEARED,
        "update",
        "/",
        sending("16", "student-12", "s-1"),
        False,
    ),
    (
        "a student cannot write into another student's inbox",
        ARNOLD,
        "update",
        "/",
        sending("12", "student-8", "s-1"),
        False,
    ),
    (
        "a student cannot write into their uid's inbox in another session",
        PHOEBE,
        "update",
        "/",
        sending("12", "student-9", "s-1"),
        False,
    ),
    (
        "a student cannot overwrite an answer already in the inbox",
        ARNOLD,
        "update",
        "/",
        sending("12", "student-7", "sent-before"),
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
        "update",
        "/",
        sending("12", "student-7", "s-1"),
        False,
    ),
    (
        "a teacher token cannot write an answer",
        TEACHER,
        "update",
        "/",
        sending("12", "teacher-1", "s-1"),
        False,
    ),
    (
        "a projector token cannot write an answer",
        PROJECTOR,
        "update",
        "/",
        sending("12", "projector-12", "s-1"),
        False,
    ),
    (
        "an answer without its answer is refused",
        ARNOLD,
        "update",
        "/",
        sending("12", "student-7", "s-4", {"question_id": 31, "at": SERVER_TIME}),
        False,
    ),
    (
        "an answer without a question is refused",
        ARNOLD,
        "update",
        "/",
        sending("12", "student-7", "s-5", {"answer": {"text": "x"}, "at": SERVER_TIME}),
        False,
    ),
    (
        "an answer whose question_id is text is refused",
        ARNOLD,
        "update",
        "/",
        sending("12", "student-7", "s-6", {"question_id": "31", "answer": {"text": "x"}, "at": SERVER_TIME}),
        False,
    ),
    (
        "an answer whose question_id is a fraction is refused",
        ARNOLD,
        "update",
        "/",
        sending("12", "student-7", "s-7", {"question_id": 31.5, "answer": {"text": "x"}, "at": SERVER_TIME}),
        False,
    ),
    (
        "an answer that is a bare string is refused",
        ARNOLD,
        "update",
        "/",
        sending("12", "student-7", "s-8", {"question_id": 31, "answer": "B", "at": SERVER_TIME}),
        False,
    ),
    (
        "an answer with an extra field is refused",
        ARNOLD,
        "update",
        "/",
        sending("12", "student-7", "s-9", {**answer({"text": "x"}), "student_id": 8}),
        False,
    ),
    (
        "a student writes an answer with their order of answers",
        ARNOLD,
        "update",
        "/",
        sending("12", "student-7", "s-11", {**ANSWER, "order": 1733328000000123}),
        True,
    ),
    (
        "an order that is text is refused",
        ARNOLD,
        "update",
        "/",
        sending("12", "student-7", "s-12", {**ANSWER, "order": "1733328000000123"}),
        False,
    ),
    (
        "an order that is a fraction is refused",
        ARNOLD,
        "update",
        "/",
        sending("12", "student-7", "s-13", {**ANSWER, "order": 1.5}),
        False,
    ),
    (
        "a negative order is refused",
        ARNOLD,
        "update",
        "/",
        sending("12", "student-7", "s-14", {**ANSWER, "order": -1}),
        False,
    ),
    (
        "an order of 2**53 or more is refused",
        ARNOLD,
        "update",
        "/",
        sending("12", "student-7", "s-15", {**ANSWER, "order": 2**53}),
        False,
    ),
    (
        "a submission id longer than 64 characters is refused",
        ARNOLD,
        "update",
        "/",
        sending("12", "student-7", "s" * 65),
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
        "a multi-path update reaching another student's inbox is refused whole",
        ARNOLD,
        "update",
        "/",
        {**sending("12", "student-7", "s-11"), "inbox/12/student-8/s-11": ANSWER},
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
        "now": NOW,
        "cases": [
            {
                "name": name,
                "auth": auth,
                "op": op,
                "path": path,
                "value": value,
                "now": extra[0] if extra else NOW,
            }
            for name, auth, op, path, value, _allowed, *extra in CASES
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
