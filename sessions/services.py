"""Every write to decks, questions, sessions and students. One transaction per function."""

from django.db import IntegrityError, transaction
from django.db.models import F, Max
from django.utils import timezone

from mirror import services as mirror_services
from peardeck import realtime, untrusted
from peardeck.errors import DomainError
from peardeck.tokens import PROJECTOR_PREFIX, STUDENT_PREFIX, new_token, token_hash
from sessions import kinds
from sessions.joincodes import new_join_code, normalize_join_code
from sessions.models import Deck, Question, Session, Student, display_name_key
from sessions.selectors import question_document

MAX_QUESTIONS_PER_DECK = 200
MAX_DISPLAY_NAME = 40

# --- decks and questions --------------------------------------------------------------------


def _clean_title(title: str) -> str:
    title = untrusted.clean_text(title, field="title").strip()
    if not title:
        raise DomainError("invalid", "title must not be blank", field="title")
    if len(title) > 200:
        raise DomainError("invalid", "title is longer than 200 characters", field="title")
    return title


@transaction.atomic
def create_deck(*, owner, title: str) -> Deck:
    return Deck.objects.create(owner=owner, title=_clean_title(title))


@transaction.atomic
def rename_deck(*, deck: Deck, title: str) -> Deck:
    deck.title = _clean_title(title)
    deck.save(update_fields=["title", "updated_at"])
    return deck


@transaction.atomic
def delete_deck(*, deck: Deck) -> None:
    """A deck that has been run keeps its questions for the record and is archived instead."""
    if deck.sessions.exists():
        deck.archived = True
        deck.save(update_fields=["archived", "updated_at"])
    else:
        deck.delete()


def _clean_prompt(kind: str, prompt: str) -> str:
    prompt = untrusted.clean_text(prompt, field="prompt", code="invalid_question").strip()
    if not prompt and kind != kinds.SLIDE:
        raise DomainError("invalid_question", "prompt must not be blank", field="prompt")
    if len(prompt) > kinds.MAX_PROMPT_LENGTH:
        raise DomainError(
            "invalid_question", f"prompt is longer than {kinds.MAX_PROMPT_LENGTH} characters", field="prompt"
        )
    return prompt


def _clean_image_url(image_url: str) -> str:
    untrusted.clean_text(image_url, field="image_url", code="invalid_question")
    try:
        image_url = kinds.clean_image_url(image_url)
    except ValueError as exc:
        raise DomainError("invalid_question", f"image_url {exc}", field="image_url") from exc
    if len(image_url) > kinds.MAX_IMAGE_URL_LENGTH:
        raise DomainError("invalid_question", "image_url is too long", field="image_url")
    return image_url


@transaction.atomic
def add_question(
    *, deck: Deck, kind: str, prompt: str, config: dict | None = None, image_url: str = ""
) -> Question:
    deck = Deck.objects.select_for_update().get(pk=deck.pk)
    config = kinds.clean_config(kind, config)
    prompt = _clean_prompt(kind, prompt)
    image_url = _clean_image_url(image_url)
    count = deck.questions.count()
    if count >= MAX_QUESTIONS_PER_DECK:
        raise DomainError(
            "invalid_question", f"a deck holds at most {MAX_QUESTIONS_PER_DECK} questions", field="deck_id"
        )
    last = deck.questions.aggregate(last=Max("position"))["last"]
    return Question.objects.create(
        deck=deck,
        kind=kind,
        prompt=prompt,
        config=config,
        image_url=image_url,
        position=0 if last is None else last + 1,
    )


@transaction.atomic
def update_question(
    *, question: Question, prompt: str | None = None, config: dict | None = None, image_url: str | None = None
) -> Question:
    question = Question.objects.select_for_update().get(pk=question.pk)
    if prompt is not None:
        question.prompt = _clean_prompt(question.kind, prompt)
    if image_url is not None:
        question.image_url = _clean_image_url(image_url)
    if config is not None:
        cleaned = kinds.clean_config(question.kind, config)
        if cleaned != question.config and question.responses.exists():
            # Changing choices or bounds under existing answers would change what they mean.
            raise DomainError(
                "question_has_responses",
                "This question already has answers, so its settings can no longer change; add a new one.",
                field="config",
            )
        question.config = cleaned
    question.save()
    _announce_question_edit(question)
    return question


def _announce_question_edit(question: Question) -> None:
    for session in Session.objects.filter(deck_id=question.deck_id, current_question=question).exclude(
        state=Session.ENDED
    ):
        _bump(session, "question_changed", **_question_payload(session, question.id))


@transaction.atomic
def delete_question(*, question: Question) -> None:
    if question.responses.exists():
        raise DomainError(
            "question_has_responses", "This question has answers and cannot be deleted.", field="question_id"
        )
    if Session.objects.filter(current_question=question).exclude(state=Session.ENDED).exists():
        raise DomainError("wrong_state", "An open session is showing this question.", field="question_id")
    deck_id = question.deck_id
    question.delete()
    _renumber(deck_id, list(Question.objects.filter(deck_id=deck_id).values_list("id", flat=True)))


def _renumber(deck_id: int, ordered_ids: list[int]) -> None:
    for position, question_id in enumerate(ordered_ids):
        Question.objects.filter(pk=question_id, deck_id=deck_id).update(position=position)


@transaction.atomic
def reorder_questions(*, deck: Deck, question_ids: list[int]) -> None:
    Deck.objects.select_for_update().get(pk=deck.pk)
    current = set(deck.questions.values_list("id", flat=True))
    if len(question_ids) != len(set(question_ids)) or set(question_ids) != current:
        raise DomainError(
            "invalid", "question_ids must list every question of the deck exactly once", field="question_ids"
        )
    _renumber(deck.pk, question_ids)


# --- sessions -------------------------------------------------------------------------------


def _bump(session: Session, event_type: str, **payload) -> None:
    """Records one change of a locked session row: seq + 1, then an event after commit."""
    Session.objects.filter(pk=session.pk).update(seq=F("seq") + 1)
    session.refresh_from_db(fields=["seq"])
    mirror_services.record_session_change(session)
    realtime.publish_after_commit(session.pk, {"type": event_type, "seq": session.seq, **payload})


def _question_payload(session: Session, question_id: int | None) -> dict:
    """What every role needs to show a question: never its correct answers."""
    question = Question.objects.filter(pk=question_id).first() if question_id else None
    return {
        "question_id": question_id,
        "question": question_document(question, for_teacher=False) if question else None,
        "locked": bool(question_id and session.is_locked(question_id)),
        "revealed": bool(question_id and session.is_revealed(question_id)),
    }


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
    _bump(session, "session_started", **_question_payload(session, session.current_question_id))
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
    _bump(session, "question_changed", **_question_payload(session, question_id))
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


def _set_membership(session: Session, field: str, question_id: int, member: bool, event_type: str) -> Session:
    ids = list(getattr(session, field))
    if (question_id in ids) == member:
        return session  # already so: no change, no event
    ids = [*ids, question_id] if member else [qid for qid in ids if qid != question_id]
    setattr(session, field, ids)
    session.save(update_fields=[field])
    payload = {"question_id": question_id}
    if event_type == "results_revealed":
        # The projector shows the results the moment they are revealed.
        from responses.selectors import tallies_of

        payload["tally"] = tallies_of(session, question_ids=[question_id]).get(question_id)
    _bump(session, event_type, **payload)
    return session


@transaction.atomic
def lock_question(*, session: Session, question_id: int | None = None) -> Session:
    session = _locked(session)
    _require_open(session)
    return _set_membership(
        session, "locked_question_ids", _question_of(session, question_id), True, "question_locked"
    )


@transaction.atomic
def unlock_question(*, session: Session, question_id: int | None = None) -> Session:
    session = _locked(session)
    _require_open(session)
    return _set_membership(
        session, "locked_question_ids", _question_of(session, question_id), False, "question_unlocked"
    )


@transaction.atomic
def reveal_results(*, session: Session, question_id: int | None = None) -> Session:
    session = _locked(session)
    _require_open(session)
    return _set_membership(
        session, "revealed_question_ids", _question_of(session, question_id), True, "results_revealed"
    )


@transaction.atomic
def hide_results(*, session: Session, question_id: int | None = None) -> Session:
    session = _locked(session)
    _require_open(session)
    return _set_membership(
        session, "revealed_question_ids", _question_of(session, question_id), False, "results_hidden"
    )


@transaction.atomic
def set_pacing(*, session: Session, pacing: str) -> Session:
    session = _locked(session)
    _require_open(session)
    if pacing not in (Session.INSTRUCTOR, Session.STUDENT):
        raise DomainError("invalid", "pacing must be 'instructor' or 'student'", field="pacing")
    if session.pacing != pacing:
        session.pacing = pacing
        session.save(update_fields=["pacing"])
        _bump(session, "pacing_changed", pacing=pacing)
    return session


@transaction.atomic
def end_session(*, session: Session) -> Session:
    session = _locked(session)
    if session.state == Session.ENDED:
        return session
    session.state = Session.ENDED
    session.ended_at = timezone.now()
    session.save(update_fields=["state", "ended_at"])
    _bump(session, "session_ended")
    return session


@transaction.atomic
def rotate_projector_key(*, session: Session) -> str:
    """A new read-only key for the projector page; the previous one stops working."""
    session = _locked(session)
    projector_key = new_token(PROJECTOR_PREFIX)
    session.projector_key_hash = token_hash(projector_key)
    session.save(update_fields=["projector_key_hash"])
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
    _bump(
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
        _bump(session, "student_removed", student_id=student.pk, students=_active_students(session))
    return student


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
    return student
