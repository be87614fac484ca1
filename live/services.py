"""Every write to a running class: opening a session, moving it, the teacher's switches on a
question, pacing, ending it; students joining, being removed, moving themselves. One transaction
per function; each change goes through sessions/changes.py (seq, outbox, event after commit).
"""

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.services import use_api_token
from domain.errors import DomainError
from domain.tokens import PROJECTOR_PREFIX, STUDENT_PREFIX, new_token, token_hash
from responses.selectors import tallies_of, tally_events
from runtime import broadcast
from sessions import kinds, live_state
from sessions.changes import question_payload, record_change
from sessions.joincodes import new_join_code, normalize_join_code
from sessions.models import Deck, Question, Session, Student, display_name_key
from sessions.selectors import session_for_projector_key, student_for_token

MAX_DISPLAY_NAME = 40


# --- sessions -------------------------------------------------------------------------------


def _active_students(session: Session) -> int:
    return session.students.filter(removed_at__isnull=True).count()


def _locked(session: Session) -> Session:
    return Session.objects.select_for_update().get(pk=session.pk)


def _require_open(session: Session) -> None:
    if session.state == Session.ENDED:
        raise DomainError("session_ended", "This session has ended.")


@transaction.atomic
def create_session(*, teacher, deck: Deck, pacing: str = Session.INSTRUCTOR) -> tuple[Session, str]:
    """A new session waiting for students; returns it and its projector key (shown once)."""
    if pacing not in (Session.INSTRUCTOR, Session.STUDENT):
        raise DomainError("invalid", "pacing must be 'instructor' or 'student'", field="pacing")
    first = deck.questions.order_by("position", "id").first()
    if first is None:
        raise DomainError(
            "deck_empty", "Add a question to the deck before starting a session.", field="deck_id"
        )
    projector_key = new_token(PROJECTOR_PREFIX)
    for _attempt in range(10):
        try:
            with transaction.atomic():
                session = Session.objects.create(
                    teacher=teacher,
                    deck=deck,
                    pacing=pacing,
                    join_code=new_join_code(),
                    current_question=first,
                    projector_key_hash=token_hash(projector_key),
                    seq=1,
                )
            return session, projector_key
        except IntegrityError:
            continue  # that code belongs to another open session; draw again
    raise RuntimeError("could not draw a free join code in 10 attempts")


@transaction.atomic
def start_session(*, session: Session) -> Session:
    session = _locked(session)
    if session.state != Session.WAITING:
        raise DomainError("wrong_state", f"The session is {session.state}, not waiting.")
    session.state = Session.LIVE
    session.started_at = timezone.now()
    session.save(update_fields=["state", "started_at"])
    record_change(session, "session_started", **question_payload(session, session.current_question_id))
    return session


@transaction.atomic
def go_to_question(*, session: Session, question_id: int) -> Session:
    session = _locked(session)
    _require_open(session)
    if not Question.objects.filter(pk=question_id, deck_id=session.deck_id).exists():
        raise DomainError(
            "question_not_found",
            f"Question {question_id} is not in this session's deck.",
            field="question_id",
        )
    session.current_question_id = question_id
    session.save(update_fields=["current_question"])
    record_change(session, "question_changed", **question_payload(session, question_id))
    return session


@transaction.atomic
def step_question(*, session: Session, step: int) -> Session:
    """Moves to the next (step=1) or previous (step=-1) question of the deck."""
    locked = _locked(session)
    _require_open(locked)
    ordered = list(
        Question.objects.filter(deck_id=locked.deck_id)
        .order_by("position", "id")
        .values_list("id", flat=True)
    )
    index = ordered.index(locked.current_question_id) if locked.current_question_id in ordered else -1
    target = index + step
    if index < 0:
        target = 0
    if not 0 <= target < len(ordered):
        where = "last" if step > 0 else "first"
        raise DomainError("no_such_move", f"Already at the {where} question.")
    return go_to_question(session=locked, question_id=ordered[target])


def _question_of(session: Session, question_id: int | None) -> int:
    question_id = question_id if question_id is not None else session.current_question_id
    if question_id is None or not Question.objects.filter(pk=question_id, deck_id=session.deck_id).exists():
        raise DomainError(
            "question_not_found",
            f"Question {question_id} is not in this session's deck.",
            field="question_id",
        )
    return question_id


@dataclass(frozen=True)
class QuestionFlag:
    """One of the teacher's per-question switches: which list of the session it edits, whether
    the action puts the question in or takes it out, the event it announces, and how the API
    names and describes it."""

    field: str
    member: bool
    event: str
    operation: str
    summary: str


# The four switches a teacher flips on a question, by the action's name in the API
# (POST /api/sessions/{id}/<action>). A repeated action is no change: no seq, no event.
QUESTION_ACTIONS = {
    "lock": QuestionFlag(
        "locked_question_ids", True, "question_locked", "lock_question", "Lock answers to a question"
    ),
    "unlock": QuestionFlag(
        "locked_question_ids", False, "question_unlocked", "unlock_question", "Unlock answers to a question"
    ),
    "reveal": QuestionFlag(
        "revealed_question_ids",
        True,
        "results_revealed",
        "reveal_results",
        "Show a question's results on the projector",
    ),
    "hide": QuestionFlag(
        "revealed_question_ids",
        False,
        "results_hidden",
        "hide_results",
        "Hide a question's results from the projector",
    ),
}


@transaction.atomic
def flag_question(*, session: Session, action: str, question_id: int | None = None) -> Session:
    """Applies one of QUESTION_ACTIONS to a question of the session (the current one by default)."""
    flag = QUESTION_ACTIONS[action]
    session = _locked(session)
    _require_open(session)
    question_id = _question_of(session, question_id)
    ids = list(getattr(session, flag.field))
    if (question_id in ids) == flag.member:
        return session  # already so: no change, no event
    ids = [*ids, question_id] if flag.member else [qid for qid in ids if qid != question_id]
    setattr(session, flag.field, ids)
    session.save(update_fields=[flag.field])
    payload = {"question_id": question_id}
    if flag.event == "results_revealed":
        # The projector shows the results the moment they are revealed. Read under the row lock,
        # which answer batches wait for: the tally is exactly the one of this answers_seq.
        payload["tally"] = tallies_of(session, question_ids=[question_id]).get(question_id)
        payload["answers_seq"] = session.answers_seq
    record_change(session, flag.event, **payload)
    return session


@transaction.atomic
def set_pacing(*, session: Session, pacing: str) -> Session:
    session = _locked(session)
    _require_open(session)
    if pacing not in (Session.INSTRUCTOR, Session.STUDENT):
        raise DomainError("invalid", "pacing must be 'instructor' or 'student'", field="pacing")
    if session.pacing != pacing:
        session.pacing = pacing
        session.save(update_fields=["pacing"])
        record_change(session, "pacing_changed", pacing=pacing)
    return session


@transaction.atomic
def end_session(*, session: Session) -> Session:
    session = _locked(session)
    if session.state == Session.ENDED:
        return session
    session.state = Session.ENDED
    session.ended_at = timezone.now()
    session.save(update_fields=["state", "ended_at"])
    record_change(session, "session_ended")
    return session


@transaction.atomic
def rotate_projector_key(*, session: Session) -> str:
    """A new read-only key for the projector page; the previous one stops working."""
    session = _locked(session)
    projector_key = new_token(PROJECTOR_PREFIX)
    session.projector_key_hash = token_hash(projector_key)
    session.save(update_fields=["projector_key_hash"])
    # No seq for a key, but no process may go on knowing the old one.
    live_state.session_changed(session.pk)
    transaction.on_commit(lambda pk=session.pk: live_state.forget_session(pk))
    # Projector sockets opened with an older key close (live/consumers.py).
    broadcast.notify_after_commit(
        broadcast.watchers_group_name(session.pk),
        {"type": "projector.key_rotated", "key_hash": session.projector_key_hash},
    )
    return projector_key


# --- students -------------------------------------------------------------------------------


def _clean_display_name(display_name: str) -> str:
    name = " ".join(display_name.split())
    if not name:
        raise DomainError("invalid", "display_name must not be blank", field="display_name")
    if len(name) > MAX_DISPLAY_NAME:
        raise DomainError(
            "invalid", f"display_name is longer than {MAX_DISPLAY_NAME} characters", field="display_name"
        )
    if any(not char.isprintable() for char in name):
        raise DomainError("invalid", "display_name holds control characters", field="display_name")
    return name


@transaction.atomic
def join_session(*, join_code: str, display_name: str) -> tuple[Student, str]:
    """Adds a student to the open session with that code; returns them and their secret token."""
    code = normalize_join_code(join_code)
    name = _clean_display_name(display_name)
    session = None
    if code is not None:
        session = (
            Session.objects.select_for_update().filter(join_code=code).exclude(state=Session.ENDED).first()
        )
    if session is None:
        raise DomainError("session_not_found", "No open session has that join code.", field="join_code")
    key = display_name_key(name)
    if session.students.filter(name_key=key, removed_at__isnull=True).exists():
        raise DomainError(
            "name_taken", f"Someone in this session is already called {name!r}.", field="display_name"
        )
    token = new_token(STUDENT_PREFIX)
    student = Student.objects.create(
        session=session, display_name=name, name_key=key, token_hash=token_hash(token)
    )
    record_change(
        session,
        "student_joined",
        student_id=student.pk,
        display_name=name,
        students=_active_students(session),
    )
    return student, token


@transaction.atomic
def remove_student(*, session: Session, student_id: int) -> Student:
    session = _locked(session)
    student = session.students.filter(pk=student_id).first()
    if student is None:
        raise DomainError(
            "student_not_found", f"No student {student_id} in this session.", field="student_id"
        )
    if student.removed_at is None:
        student.removed_at = timezone.now()
        student.save(update_fields=["removed_at"])
        record_change(session, "student_removed", student_id=student.pk, students=_active_students(session))
        _answers_left(session, student)
    return student


def _answers_left(session: Session, student: Student) -> None:
    """A removed student's answers leave every tally: that is a change of the session's answers, so
    answers_seq grows by one (under the row lock the caller holds, like an answer batch) and the
    tallies of every question go out again with the range they cover, as a batch's do."""
    Session.objects.filter(pk=session.pk).update(answers_seq=F("answers_seq") + 1)
    session.refresh_from_db(fields=["answers_seq"])
    after = session.answers_seq
    questions = Question.objects.filter(deck_id=session.deck_id).values_list("id", "kind")
    items = {(question_id, student.pk) for question_id, kind in questions if kinds.is_answerable(kind)}
    items.add(("covers", after - 1, after))

    def announce(session_id=session.pk):
        broadcast.publish_coalesced({session_id: items}, tally_events, broadcast.watchers_group_name)
        live_state.answers_changed({session_id: after})

    transaction.on_commit(announce)


@transaction.atomic
def move_student(*, student: Student, question_id: int) -> Student:
    """A student moves themselves, which only student-paced sessions allow."""
    session = student.session
    if session.pacing != Session.STUDENT:
        raise DomainError("wrong_state", "The teacher is pacing this session.", field="question_id")
    if session.state == Session.ENDED:
        raise DomainError("session_ended", "This session has ended.")
    if not Question.objects.filter(pk=question_id, deck_id=session.deck_id).exists():
        raise DomainError(
            "question_not_found", f"Question {question_id} is not in this session.", field="question_id"
        )
    Student.objects.filter(pk=student.pk).update(current_question_id=question_id)
    student.current_question_id = question_id
    # Where the student is belongs to their cached record (their polls' ETag), and bumps no seq.
    live_state.forget_student(student.pk)
    transaction.on_commit(lambda pk=student.pk: live_state.forget_student(pk))
    return student


# --- sockets --------------------------------------------------------------------------------


def identify_socket(
    *, join_code: str, role: str, user=None, token: str = ""
) -> tuple[Session, Student | None]:
    """Who a WebSocket connection is, for the session with that join code; refuses by DomainError.

    Teachers come with their browser login or an API token, students with their token, the
    projector with the read-only key the teacher's dashboard gets.
    """
    code = normalize_join_code(join_code)
    if code is None:
        raise DomainError("session_not_found", "No session has that join code.", field="join_code")
    if role == "teacher":
        teacher = user if user is not None and user.is_authenticated else use_api_token(token)
        if teacher is None:
            raise DomainError("not_authenticated", "Log in or send an API token.")
        # Codes are reused after a session ends; the teacher means their newest session with it.
        session = Session.objects.filter(teacher=teacher, join_code=code).order_by("-created_at").first()
        if session is None:
            raise DomainError(
                "session_not_found", "None of your sessions has that join code.", field="join_code"
            )
        return session, None
    if role == "student":
        student = student_for_token(token)
        if student is None:
            raise DomainError(
                "not_authenticated", "Join the session first: your token is missing or unknown."
            )
        if student.session.join_code != code:
            raise DomainError(
                "session_not_found", "Your token belongs to another session.", field="join_code"
            )
        if student.is_removed:
            raise DomainError("student_removed", "The teacher removed you from this session.")
        # The class's record is read now, while sockets connect, not when their answers arrive.
        live_state.session(student.session_id)
        return student.session, student
    if role == "projector":
        session = session_for_projector_key(token)
        if session is None or session.join_code != code:
            raise DomainError("not_authenticated", "The projector key is missing or out of date.")
        return session, None
    raise DomainError("not_found", f"No role {role!r}; use teacher, student or projector.", field="role")
