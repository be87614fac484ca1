"""What each role of a running class is shown: the one place that decides it.

The rules, for every transport (WebSocket, HTTP polling, the Firebase mirror):

- teacher: everything about their own session, names and every answer included.
- student: the session's state and their current question without its correct answers; their
  own answer only; never another student's name or answer. A removed student learns only that
  they were removed.
- projector (the class's screen): the join code, the current question without its correct
  answers, a head count, and the tally of a question only once its results are revealed; never a
  name, never an individual answer.
- Firebase mirror: what students need, as the student rule says; of other students nothing but
  the uids of those removed (so a removed student's page can see itself there and stop).

A question reaches a student or the projector only as question_document(for_teacher=False)
(sessions/selectors.py), which drops what kinds.public_config withholds (correct choices).

Events are built by the change that causes them, in a form a teacher may see: session changes in
sessions/changes.py (their question always in the public form), answers' tallies in
responses/selectors.py (tally_events). for_role below is what each connection passes on. Every
event that bumps `seq` reaches every role in some form, so no client sees a false gap: where a
role may not see the content, it gets a bare {"type": "seq", "seq": n}. Every tally event reaches
the teacher and the projector with its `answers_seq` and `covers` (the projector's with only the
revealed tallies, perhaps none), so their answers watermark has no false holes either.

Each document is read in one snapshot (runtime/snapshot.py) and carries the versions it is at:
`seq` always, `answers_seq` wherever the role sees answers (the dashboard, the projector, the
student's own answer), so a client can tell it from older or newer pieces it already holds.
"""

from integrations import firebase
from live.darklaunch import websocket_dark_launch
from responses.selectors import own_answer, response_document, responses_of, tallies_of
from runtime.snapshot import snapshot
from sessions.models import Question, Session, Student
from sessions.selectors import question_document, questions_of_session

TEACHER, STUDENT, PROJECTOR = "teacher", "student", "projector"
ROLES = (TEACHER, STUDENT, PROJECTOR)

# --- events ---------------------------------------------------------------------------------

# Events whose whole content any role may see.
_PUBLIC = {
    "session_started",
    "question_changed",
    "question_locked",
    "question_unlocked",
    "results_hidden",
    "pacing_changed",
    "session_ended",
}


def for_role(event: dict, role: str, student_id: int | None = None) -> dict | None:
    """The form of `event` a connection of `role` receives, or None when it receives nothing."""
    kind = event["type"]
    if role == TEACHER:
        return event
    if kind in _PUBLIC:
        return event
    if kind == "results_revealed":
        if role == PROJECTOR:
            return event
        return {"type": "results_revealed", "seq": event["seq"], "question_id": event["question_id"]}
    if kind == "student_joined":
        if role == PROJECTOR:
            return {"type": "student_count", "seq": event["seq"], "students": event["students"]}
        return _seq_only(event)
    if kind == "student_removed":
        if role == STUDENT and event["student_id"] == student_id:
            return {"type": "removed", "seq": event["seq"]}
        if role == PROJECTOR:
            return {"type": "student_count", "seq": event["seq"], "students": event["students"]}
        return _seq_only(event)
    if kind == "tallies":
        if role == PROJECTOR:
            # Even with nothing revealed it carries its versions and ranges: the projector's
            # answers watermark must move with every tally, or it would see holes that are none.
            revealed = set(event["revealed_question_ids"])
            tallies = [tally for tally in event["tallies"] if tally["question_id"] in revealed]
            versions = {name: event[name] for name in ("answers_seq", "covers") if name in event}
            return {"type": "tallies", "seq": event["seq"], **versions, "tallies": tallies}
        return None  # students see only their own answers, which they sent themselves
    return None


def _seq_only(event: dict) -> dict:
    return {"type": "seq", "seq": event["seq"]}


# --- the documents each role starts from (HTTP state endpoints, WebSocket hello) ------------------


def _session_core(session: Session) -> dict:
    return {
        "id": session.pk,
        "join_code": session.join_code,
        "state": session.state,
        "pacing": session.pacing,
        "seq": session.seq,
        "current_question_id": session.current_question_id,
    }


def teacher_state(session: Session) -> dict:
    """The teacher's view of the session: every question in full and the roster with names."""
    questions = questions_of_session(session)
    students = list(session.students.all())
    return {
        **_session_core(session),
        "deck": {"id": session.deck_id, "title": session.deck.title},
        "locked_question_ids": session.locked_question_ids,
        "revealed_question_ids": session.revealed_question_ids,
        "created_at": session.created_at,
        "started_at": session.started_at,
        "ended_at": session.ended_at,
        "questions": [question_document(question, for_teacher=True) for question in questions],
        "students": [
            {
                "id": student.pk,
                "display_name": student.display_name,
                "removed": student.is_removed,
                "joined_at": student.joined_at,
            }
            for student in students
        ],
    }


def dashboard_state(session: Session) -> dict:
    """The teacher's dashboard: the session, roster, every current answer and every tally, all
    read in one snapshot with the versions they are at."""
    with snapshot():
        session = Session.objects.select_related("deck").get(pk=session.pk)
        return {
            **teacher_state(session),
            "answers_seq": session.answers_seq,
            "responses": [response_document(r, with_student=False) for r in responses_of(session)],
            "tallies": list(tallies_of(session).values()),
        }


def _student_question(student: Student) -> Question | None:
    session = student.session
    if session.pacing == Session.STUDENT and student.current_question_id is not None:
        return student.current_question
    return session.current_question


def student_view(student: Student) -> dict:
    """What one student may see: their question without its correct answers, and their own answer,
    read in one snapshot with the versions they are at."""
    with snapshot():
        return _student_view(Student.objects.select_related("session").get(pk=student.pk))


def _student_view(student: Student) -> dict:
    session = student.session
    current = _student_question(student)
    question = current if session.state != Session.WAITING else None
    document = {
        **_session_core(session),
        "answers_seq": session.answers_seq,  # the student's own answer is among the answers
        "student": {"id": student.pk, "display_name": student.display_name},
        "question": question_document(question, for_teacher=False) if question else None,
        "locked": bool(question and session.is_locked(question.pk)) or session.state == Session.ENDED,
        "answer": own_answer(student, current),
        # Firebase-mode clients in this share also try a WebSocket in the background and report it.
        "websocket_dark_launch": websocket_dark_launch(student.pk),
        # Each student moves alone under student pacing, so they need the way around.
        "question_ids": (
            [question.pk for question in questions_of_session(session)]
            if session.pacing == Session.STUDENT
            else None
        ),
    }
    return document


def student_view_version(student: Student) -> str:
    """Changes whenever student_view(student) would: the session's seq (state, question, locks,
    roster), its answers_seq (the student's own answer is among them), and where the student is.
    No query beyond the student's session."""
    session = student.session
    question = student.current_question_id if session.pacing == Session.STUDENT else None
    return student_version(
        student.pk, session.seq, session.answers_seq, question or session.current_question_id
    )


def student_version(student_id: int, seq: int, answers_seq: int, question_id: int | None) -> str:
    """The ETag of a student's view, from the versions alone (the polls' cached fast path uses it)."""
    return f"student-{student_id}-{seq}-{answers_seq}-{question_id}"


def projector_state(session: Session) -> dict:
    """The projector: join code, the current question, a head count, and results only if revealed;
    read in one snapshot with the versions they are at."""
    with snapshot():
        return _projector_state(Session.objects.get(pk=session.pk))


def _projector_state(session: Session) -> dict:
    question = session.current_question
    revealed = bool(question and session.is_revealed(question.pk))
    return {
        "id": session.pk,
        "join_code": session.join_code,
        "state": session.state,
        "seq": session.seq,
        "answers_seq": session.answers_seq,
        "current_question_id": session.current_question_id,
        "question": question_document(question, for_teacher=False) if question else None,
        "locked": bool(question and session.is_locked(question.pk)),
        "revealed": revealed,
        "students": session.students.filter(removed_at__isnull=True).count(),
        "tally": tallies_of(session, question_ids=[question.pk]).get(question.pk) if revealed else None,
    }


def mirror_document(session: Session, removed_student_ids: list[int]) -> dict:
    """The state the Firebase mirror holds for a session's students (mirror/selectors.py reads the
    sessions in bulk and relays this). Firebase drops empty lists, objects and nulls, so a client
    reads a missing `question` as none and a missing `locked_question_ids` or `removed` as empty."""
    question = session.current_question if session.state != Session.WAITING else None
    document = {
        "seq": session.seq,
        "state": session.state,
        "pacing": session.pacing,
        "question": question_document(question, for_teacher=False) if question else None,
        "locked": bool(question and session.is_locked(question.pk)) or session.state == Session.ENDED,
        "locked_question_ids": list(session.locked_question_ids),
        # Uids only, never names. The rules shut these students out of the session's state and
        # their inbox; a page that still gets the document sees itself here and stops.
        "removed": {firebase.student_uid(student_id): True for student_id in sorted(removed_student_ids)},
    }
    if session.pacing == Session.STUDENT and session.state != Session.WAITING:
        # Each student moves alone, so each needs every question; keys are question ids.
        questions = Question.objects.filter(deck_id=session.deck_id).order_by("position", "id")
        document["questions"] = {
            str(question.pk): question_document(question, for_teacher=False) for question in questions
        }
    return document
