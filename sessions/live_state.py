"""What every answer and every poll is checked against, kept per process so that the hot paths
run no query: a small frozen record per session, and students by their token.

- `session(id)` -> LiveSession: state, pacing, current question, locked and revealed question ids,
  the deck's questions (kind, config, position), removed students, projector key hash, seq and
  answers_seq. Three queries on a miss.
- `student_for_token_hash(hash)` -> LiveStudent (id, session id, display name, where the student
  is in a student-paced session). One query on a miss; a bounded LRU.

How a record stays true enough (runtime/announcements.py carries the messages):
1. Every seq bump announces `{"session", "seq"}` after its commit (sessions/changes.py), and drops
   this process's record at once, before the commit, so the changing process reads afresh.
   A record older than what was announced is dropped; a read that finishes with a seq lower than
   one already announced is used once but not stored.
2. Every answer batch announces `{"session", "answers_seq"}` after its commit; a record takes the
   higher answers_seq in place (nothing else of it changed).
3. A subscription that (re)connects drops everything: it may have missed announcements.
4. A record is trusted at most TTL_SECONDS without an announcement, so an announcement lost in
   flight costs seconds of staleness in what a poll is told. It never costs a wrong acceptance:
   the answer writer re-checks everything in SQL under the session's row lock.
5. Changes that bump no seq announce too: a rotated projector key (`{"session", "forget"}`), a
   student moving in a student-paced session (`{"student"}`), a deck's questions changing
   (`{"deck"}`: every record of its sessions goes).
6. The answer path trusts a record up to ANSWER_TTL_SECONDS: what it refuses on is re-checked in
   SQL by the writer, but for the questions, whose changes are announced (5).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from runtime import announcements
from sessions.models import Question, Session, Student

TTL_SECONDS = 5.0
# The answer path may use an older record: everything it refuses on is re-checked by the writer in
# SQL but the deck's questions, and every change of a deck is announced (deck_changed). So only a
# lost announcement of a deck edit made during a class could mislead it, for this long at most.
ANSWER_TTL_SECONDS = 60.0
MAX_SESSIONS = 20_000
MAX_STUDENTS = 200_000


@dataclass(frozen=True)
class LiveQuestion:
    id: int
    kind: str
    config: dict
    position: int


@dataclass(frozen=True)
class LiveSession:
    id: int
    seq: int
    answers_seq: int
    state: str
    pacing: str
    deck_id: int
    join_code: str
    current_question_id: int | None
    locked: frozenset[int]
    revealed: frozenset[int]
    questions: dict[int, LiveQuestion]
    removed: frozenset[int]  # students the teacher removed
    projector_key_hash: str
    loaded_at: float

    def is_locked(self, question_id: int) -> bool:
        return question_id in self.locked


@dataclass(frozen=True)
class LiveStudent:
    id: int
    session_id: int
    display_name: str
    current_question_id: int | None
    token_hash: str


class _Cache:
    def __init__(self):
        self.lock = threading.Lock()
        self.sessions: OrderedDict[int, LiveSession] = OrderedDict()
        self.students: OrderedDict[str, LiveStudent] = OrderedDict()
        self.token_of_student: dict[int, str] = {}
        # The highest versions announced per session (bounded with the sessions' records).
        self.seq_heard: OrderedDict[int, int] = OrderedDict()
        self.answers_seq_heard: dict[int, int] = {}
        self.loading: dict[int, threading.Lock] = {}
        self.subscribed = False

    def clear(self) -> None:
        with self.lock:
            self.sessions.clear()
            self.students.clear()
            self.token_of_student.clear()
            self.seq_heard.clear()
            self.answers_seq_heard.clear()


_cache = _Cache()


def _subscribe() -> None:
    if not _cache.subscribed:
        with _cache.lock:
            if not _cache.subscribed:
                announcements.listen(_heard, _forget_everything)
                _cache.subscribed = True
    announcements.ensure_subscribed()


# --- reading ----------------------------------------------------------------------------------


def session(session_id: int, *, ttl: float = TTL_SECONDS) -> LiveSession | None:
    """The session's live record, from this process's cache when it is fresh (read at most `ttl`
    seconds ago); None if there is no such session.

    One thread reads a missing record while the others asking for it wait (a class's answers
    arrive together). A record past its TTL is read again by one thread while the others go on
    with it meanwhile, so a class answering never stalls on the refresh."""
    _subscribe()
    with _cache.lock:
        record = _cache.sessions.get(session_id)
        if record is not None:
            _cache.sessions.move_to_end(session_id)
        loading = _cache.loading.setdefault(session_id, threading.Lock())
    if record is not None and time.monotonic() - record.loaded_at < ttl:
        return record
    if record is not None:
        if not loading.acquire(blocking=False):
            return record  # another thread is refreshing it
    else:
        loading.acquire()
    try:
        fresh = _fresh(session_id)
        if fresh is not None:
            return fresh
        fresh = _load_session(session_id, time.monotonic())
        return _store(fresh) if fresh is not None else None
    finally:
        loading.release()


def _store(record: LiveSession) -> LiveSession:
    """Keeps a record just read unless a newer seq was announced meanwhile (then it serves this
    one call only); an answers_seq announced meanwhile is taken in."""
    with _cache.lock:
        heard_answers = _cache.answers_seq_heard.get(record.id, 0)
        if heard_answers > record.answers_seq:
            record = _replace(record, answers_seq=heard_answers)
        if record.seq >= _cache.seq_heard.get(record.id, 0):
            _cache.sessions[record.id] = record
            _cache.sessions.move_to_end(record.id)
            while len(_cache.sessions) > MAX_SESSIONS:
                _cache.sessions.popitem(last=False)
    return record


def cached_session(session_id: int, *, ttl: float = TTL_SECONDS) -> LiveSession | None:
    """The record only if this process holds it fresh: never a query (for the event loop)."""
    _subscribe()
    with _cache.lock:
        record = _cache.sessions.get(session_id)
    if record is not None and time.monotonic() - record.loaded_at < ttl:
        return record
    return None


def _fresh(session_id: int) -> LiveSession | None:
    with _cache.lock:
        record = _cache.sessions.get(session_id)
        if record is not None and time.monotonic() - record.loaded_at < TTL_SECONDS:
            _cache.sessions.move_to_end(session_id)
            return record
    return None


def _load_session(session_id: int, now: float) -> LiveSession | None:
    row = (
        Session.objects.filter(pk=session_id)
        .values(
            "seq",
            "answers_seq",
            "state",
            "pacing",
            "deck_id",
            "join_code",
            "current_question_id",
            "locked_question_ids",
            "revealed_question_ids",
            "projector_key_hash",
        )
        .first()
    )
    if row is None:
        return None
    deck_questions = Question.objects.filter(deck_id=row["deck_id"])
    deck_questions = deck_questions.values_list("id", "kind", "config", "position")
    questions = {
        question_id: LiveQuestion(question_id, kind, config, position)
        for question_id, kind, config, position in deck_questions
    }
    removed = Student.objects.filter(session_id=session_id, removed_at__isnull=False).values_list("id")
    return LiveSession(
        id=session_id,
        seq=row["seq"],
        answers_seq=row["answers_seq"],
        state=row["state"],
        pacing=row["pacing"],
        deck_id=row["deck_id"],
        join_code=row["join_code"],
        current_question_id=row["current_question_id"],
        locked=frozenset(row["locked_question_ids"]),
        revealed=frozenset(row["revealed_question_ids"]),
        questions=questions,
        removed=frozenset(student_id for (student_id,) in removed),
        projector_key_hash=row["projector_key_hash"],
        loaded_at=now,
    )


def _replace(record: LiveSession, **changes) -> LiveSession:
    return LiveSession(**{**record.__dict__, **changes})


def student_for_token_hash(token_hash: str) -> LiveStudent | None:
    """The student holding that token, from the LRU when known. Students are never deleted but
    with their session; removal is read from the session's record, not from here."""
    _subscribe()
    with _cache.lock:
        known = _cache.students.get(token_hash)
        if known is not None:
            _cache.students.move_to_end(token_hash)
            return known
    row = (
        Student.objects.filter(token_hash=token_hash)
        .values_list("id", "session_id", "display_name", "current_question_id")
        .first()
    )
    if row is None:
        return None
    student = LiveStudent(*row, token_hash=token_hash)
    with _cache.lock:
        _cache.students[token_hash] = student
        _cache.token_of_student[student.id] = token_hash
        while len(_cache.students) > MAX_STUDENTS:
            _hash, gone = _cache.students.popitem(last=False)
            _cache.token_of_student.pop(gone.id, None)
    return student


def student_question_id(student: LiveStudent | Student, record: LiveSession) -> int | None:
    """The question the student is on: their own in a student-paced session, else the class's."""
    if record.pacing == Session.STUDENT and student.current_question_id is not None:
        return student.current_question_id
    return record.current_question_id


# --- changes ----------------------------------------------------------------------------------


def session_changed(session_id: int, seq: int | None = None) -> None:
    """A change of the session is being made (or was made) in this process: its record goes now;
    `seq`, once committed, is announced to every process (call that from on_commit)."""
    with _cache.lock:
        _cache.sessions.pop(session_id, None)
    if seq is not None:
        announcements.announce({"session": session_id, "seq": seq})


def answers_changed(answers_seq_by_session: dict[int, int]) -> None:
    """Answer batches committed: every process's records take the new answers_seq."""
    if not answers_seq_by_session:
        return
    _heard({"answers": {str(k): v for k, v in answers_seq_by_session.items()}})
    announcements.announce({"answers": {str(k): v for k, v in answers_seq_by_session.items()}})


def deck_changed(deck_id: int) -> None:
    """A deck's questions changed (added, edited, moved, deleted): the records of its sessions go,
    here now and everywhere (call again from on_commit)."""
    _heard({"deck": deck_id})
    announcements.announce({"deck": deck_id})


def forget_session(session_id: int) -> None:
    """A change that bumps no seq (a new projector key): dropped here and everywhere."""
    session_changed(session_id)
    announcements.announce({"session": session_id, "forget": True})


def forget_student(student_id: int) -> None:
    """A student's own record changed (they moved in a student-paced session)."""
    _forget_student(student_id)
    announcements.announce({"student": student_id})


def _forget_student(student_id: int) -> None:
    with _cache.lock:
        token = _cache.token_of_student.pop(student_id, None)
        if token is not None:
            _cache.students.pop(token, None)


def _heard(message: dict) -> None:
    if isinstance(message.get("deck"), int):
        with _cache.lock:
            of_deck = [sid for sid, record in _cache.sessions.items() if record.deck_id == message["deck"]]
            for session_id in of_deck:
                del _cache.sessions[session_id]
        return
    if "student" in message:
        if isinstance(message["student"], int):
            _forget_student(message["student"])
        return
    if isinstance(message.get("answers"), dict):
        with _cache.lock:
            for key, answers_seq in message["answers"].items():
                if not (str(key).isdigit() and isinstance(answers_seq, int)):
                    continue
                session_id = int(key)
                if answers_seq > _cache.answers_seq_heard.get(session_id, 0):
                    _cache.answers_seq_heard[session_id] = answers_seq
                record = _cache.sessions.get(session_id)
                if record is not None and record.answers_seq < answers_seq:
                    _cache.sessions[session_id] = _replace(record, answers_seq=answers_seq)
            _bound_heard()
        return
    session_id = message.get("session")
    if not isinstance(session_id, int):
        return
    with _cache.lock:
        if message.get("forget"):
            _cache.sessions.pop(session_id, None)
            return
        seq = message.get("seq")
        if isinstance(seq, int):
            if seq > _cache.seq_heard.get(session_id, 0):
                _cache.seq_heard[session_id] = seq
                _cache.seq_heard.move_to_end(session_id)
            record = _cache.sessions.get(session_id)
            if record is not None and record.seq < seq:
                del _cache.sessions[session_id]
            _bound_heard()


def _bound_heard() -> None:
    while len(_cache.seq_heard) > MAX_SESSIONS:
        session_id, _seq = _cache.seq_heard.popitem(last=False)
        _cache.answers_seq_heard.pop(session_id, None)
    if len(_cache.answers_seq_heard) > 2 * MAX_SESSIONS:
        _cache.answers_seq_heard.clear()


def _forget_everything() -> None:
    _cache.clear()


def clear() -> None:
    """Forgets everything this process holds (tests: ids are reused after a rolled-back test)."""
    _cache.clear()
