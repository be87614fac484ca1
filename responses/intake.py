"""The answer writer: every answer a process accepts, from every transport, is written here, in
batches, by one thread (group commit). responses.services.submit_response is its front door.

Invariants (each test in tests/responses/test_intake.py is named after one):

1. Nothing is acknowledged before its commit. A caller's Future is resolved only after the batch's
   transaction has committed, or with the error that stopped it (then nothing of the batch is
   stored, and a retry with the same submission_id counts once).
2. The database decides the races. The batch locks its sessions' rows FOR NO KEY UPDATE in id
   order (every teacher action takes FOR UPDATE on the same row), then checks every answer against
   the locked rows: live, not ended, the current question when the teacher paces, not locked, the
   student not removed. So an answer racing a lock is stored before the lock commits, or refused.
3. A submission_id counts once per student: earlier submissions are looked up in the batch's
   transaction before any state check (a replay of an accepted answer stays accepted after a lock)
   and answered `duplicate` with the current response; inside one batch the later copy is the
   replay of the earlier. The unique constraint on (student, submission_id) is the last word.
4. A student's answers to a question are applied in the student's order: the client's `order`
   when both sides have one, else arrival. Inside a batch the answers of one student to one
   question collapse to the one applied last; across batches the upsert keeps a stored answer
   whose order is higher. Answers not applied are answered `superseded`, with what is stored.
5. One bad row never fails its batch mates: a batch that meets a data error is written again one
   row at a time, and only the bad row is refused (invalid_answer).
6. A session's answers_seq grows in the batch's transaction, under its row lock, by the number of
   responses the batch changed in it: commit order is version order.
7. Effects run after commit: the coalesced dashboard update, the answers_seq announcement to
   every process's live-state cache (sessions/live_state.py).

A caller already inside a transaction of its own (a test's, or a service composing this one)
gets its answer written in that transaction on its own thread; its commit is the caller's.
Statements per batch, whatever its size: BEGIN, lock the sessions, earlier submissions, removed
students, insert submissions, upsert responses, answers_seq, COMMIT (+1 when a replay or a
superseded answer needs the stored response).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import defaultdict, deque
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from django.db import DataError, IntegrityError, close_old_connections, connection, transaction
from django.utils import timezone

from domain.errors import DomainError
from observability import metrics
from responses.models import Response, Submission
from responses.selectors import tally_events
from runtime import broadcast
from sessions import kinds, live_state
from sessions.models import Session, Student

log = logging.getLogger(__name__)

MAX_BATCH = 1000
# How long a caller waits for its batch; past it the client is told to retry (same submission_id).
WAIT_SECONDS = 30.0
ORDER_LIMIT = 2**53


@dataclass(frozen=True)
class Submitted:
    response: Response
    # True when this submission_id had been accepted before: nothing was changed this time.
    duplicate: bool
    # The question's kind, for the answer metrics; set when the answer was accepted this time.
    kind: str | None = None
    # True when the answer was accepted but a later one of the student's (by their order) is what
    # is stored: `response` is that one.
    superseded: bool = False


@dataclass(eq=False)
class Answer:
    """One answer, checked against its question, waiting for the writer."""

    student_id: int
    session_id: int
    question_id: int
    kind: str
    submission_id: str
    answer: dict
    is_correct: bool | None
    source: str
    order: int | None = None
    future: Future = field(default_factory=Future)


def refused(code: str, message: str, field_name: str | None = None) -> DomainError:
    return DomainError(code, message, field=field_name)


_REUSED = (
    "submission_id_reused",
    "That submission_id was already used for a different answer.",
    "submission_id",
)


# --- the writer thread --------------------------------------------------------------------------


class AnswerWriter:
    """The process's one writer: takes everything queued (at most MAX_BATCH), writes it in one
    transaction, resolves every Future, and starts again. No fixed wait: while one batch commits,
    the next accumulates."""

    def __init__(self, max_batch: int = MAX_BATCH):
        self.max_batch = max_batch
        self._queue: deque[Answer] = deque()
        self._ready = threading.Condition()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None

    def submit(self, answers: list[Answer]) -> list[Future]:
        with self._ready:
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="answer-writer", daemon=True)
                self._thread.start()
            self._queue.extend(answers)
            self._ready.notify()
        return [answer.future for answer in answers]

    def _take(self) -> list[Answer]:
        with self._ready:
            while not self._queue:
                self._ready.wait()
            return [self._queue.popleft() for _ in range(min(self.max_batch, len(self._queue)))]

    def _run(self) -> None:
        while True:
            batch = self._take()
            close_old_connections()
            started = time.perf_counter()
            try:
                outcomes, effects = write(batch)
            except BaseException as exc:  # every waiter must hear of it
                for answer in batch:
                    if not answer.future.done():
                        answer.future.set_exception(exc)
                # A broken connection must not serve the next batch.
                connection.close()
                continue
            for answer, outcome in zip(batch, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    answer.future.set_exception(outcome)
                else:
                    answer.future.set_result(outcome)
            metrics.ANSWER_BATCH_SECONDS.observe(time.perf_counter() - started)
            metrics.ANSWER_BATCH_ROWS.inc(len(batch))
            effects.run()
            close_old_connections()


_writer = AnswerWriter()


def writer() -> AnswerWriter:
    return _writer


def enqueue(answers: list[Answer]) -> list[Future]:
    """Hands answers to the writer; their Futures resolve after their batch commits. A caller
    inside a transaction of its own gets them written in it, now (see the module's docstring)."""
    if connection.in_atomic_block:
        outcomes = write_in_caller_transaction(answers)
        for answer, outcome in zip(answers, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                answer.future.set_exception(outcome)
            else:
                answer.future.set_result(outcome)
        return [answer.future for answer in answers]
    # The writer needs a connection of the pool while this thread waits: this thread's goes back
    # now (a cache miss may have taken one), rather than when its request ends.
    connection.close()
    return _writer.submit(answers)


def wait(future: Future) -> Submitted:
    try:
        return future.result(timeout=WAIT_SECONDS)
    except FutureTimeout as exc:
        raise DomainError("unavailable", "Answers are not being stored right now; send it again.") from exc


# --- one batch ----------------------------------------------------------------------------------


@dataclass
class Effects:
    """What a committed batch causes: per session the (question, student) pairs it changed and
    the ("covers", before, after) range of answers_seq it took, and each session's answers_seq
    after the batch."""

    changed: dict[int, set[tuple[int, int]]] = field(default_factory=lambda: defaultdict(set))
    answers_seq: dict[int, int] = field(default_factory=dict)

    def merge(self, other: Effects) -> None:
        for session_id, items in other.changed.items():
            self.changed[session_id] |= items
        for session_id, seq in other.answers_seq.items():
            self.answers_seq[session_id] = max(seq, self.answers_seq.get(session_id, 0))

    def run(self) -> None:
        if self.changed:
            broadcast.publish_coalesced(dict(self.changed), tally_events, broadcast.watchers_group_name)
        live_state.answers_changed(self.answers_seq)


Outcome = Submitted | DomainError


def write(batch: list[Answer]) -> tuple[list[Outcome], Effects]:
    """Writes a batch in a transaction of its own; on a data error, each row alone."""
    try:
        return _write(batch)
    except (DataError, IntegrityError):
        if len(batch) == 1:
            return [_invalid(batch[0])], Effects()
    outcomes: list[Outcome] = []
    effects = Effects()
    for answer in batch:
        try:
            [outcome], one = _write([answer])
        except (DataError, IntegrityError):
            log.warning(
                "an answer of student %s failed alone in the database", answer.student_id, exc_info=True
            )
            outcome, one = _invalid(answer), Effects()
        outcomes.append(outcome)
        effects.merge(one)
    return outcomes, effects


def write_in_caller_transaction(batch: list[Answer]) -> list[Outcome]:
    """The same batch, in a savepoint of the caller's transaction; effects on its commit."""
    outcomes, effects = write(batch)
    # This process's records go at once (the caller may read them before its commit).
    for session_id in effects.answers_seq:
        live_state.session_changed(session_id)
    transaction.on_commit(effects.run)
    return outcomes


def _invalid(answer: Answer) -> DomainError:
    return refused("invalid_answer", "This answer could not be stored.", "answer")


class _ConcurrentReplay(Exception):
    """Another transaction stored one of the batch's submission ids after the batch looked."""


def _write(batch: list[Answer]) -> tuple[list[Outcome], Effects]:
    for _attempt in range(3):
        try:
            with transaction.atomic():
                return _write_once(batch)
        except _ConcurrentReplay:
            continue  # rolled back; looked at again, those submissions are replays now
    raise DomainError("unavailable", "Answers are not being stored right now; send it again.")


def _write_once(batch: list[Answer]) -> tuple[list[Outcome], Effects]:
    cursor = connection.cursor()
    sessions = _lock_sessions(cursor, sorted({answer.session_id for answer in batch}))
    # Read after the lock: a removal that committed while the batch waited for it is seen.
    earlier, removed = _earlier_and_removed(cursor, batch)

    outcomes: list[Outcome | None] = [None] * len(batch)
    accepted: dict[tuple[int, str], int] = {}  # (student, submission_id) -> index in batch
    replays: dict[int, tuple[int, int]] = {}  # index -> the (question, student) it is answered with
    for index, answer in enumerate(batch):
        key = (answer.student_id, answer.submission_id)
        first = earlier.get(key)
        if first is None and key in accepted:
            mate = batch[accepted[key]]
            first = (mate.question_id, mate.answer)
        if first is not None:
            question_id, stored_answer = first
            if question_id != answer.question_id or not kinds.same_answer(stored_answer, answer.answer):
                outcomes[index] = refused(*_REUSED)
            else:
                replays[index] = (answer.question_id, answer.student_id)
            continue
        refusal = _check(answer, sessions.get(answer.session_id), removed)
        if refusal is not None:
            outcomes[index] = refusal
            continue
        accepted[key] = index

    # Collapse: per (student, question), the answer applied last in the student's order wins.
    winners: dict[tuple[int, int], int] = {}
    superseded_in_batch: dict[int, tuple[int, int]] = {}
    for index in accepted.values():
        answer = batch[index]
        pair = (answer.question_id, answer.student_id)
        holder = winners.get(pair)
        if holder is None:
            winners[pair] = index
        elif _replaces(answer.order, batch[holder].order):
            superseded_in_batch[holder] = pair
            winners[pair] = index
        else:
            superseded_in_batch[index] = pair

    stored, answers_seq = {}, {}
    if accepted:
        stored, answers_seq = _store(
            cursor,
            [batch[index] for index in sorted(accepted.values())],
            [batch[i] for i in winners.values()],
        )

    effects = Effects(answers_seq=answers_seq)
    counts: dict[int, int] = defaultdict(int)
    for pair, index in winners.items():
        answer = batch[index]
        response = stored.get(pair)
        if response is not None:
            outcomes[index] = Submitted(response=response, duplicate=False, kind=answer.kind)
            effects.changed[answer.session_id].add(pair)
            counts[answer.session_id] += 1
        else:
            superseded_in_batch[index] = pair  # the stored answer is later in the student's order

    # Those answered with what is stored now, read once for all of them.
    wanted = {pair for pair in (*replays.values(), *superseded_in_batch.values()) if pair not in stored}
    current = {**_current_responses(wanted), **stored}
    for index, pair in replays.items():
        outcomes[index] = Submitted(response=current[pair], duplicate=True)
    for index, pair in superseded_in_batch.items():
        outcomes[index] = Submitted(
            response=current[pair], duplicate=False, kind=batch[index].kind, superseded=True
        )

    for session_id, after in effects.answers_seq.items():
        # The range of answers_seq this batch covers, so a client can tell a lost event from a jump.
        effects.changed[session_id].add(("covers", after - counts[session_id], after))
    return outcomes, effects


def _replaces(new: int | None, held: int | None) -> bool:
    """The contract's rule: a new answer replaces the held one unless both orders are known and
    the new one's is smaller."""
    return new is None or held is None or new >= held


def _check(answer: Answer, session: dict | None, removed: set[int]) -> DomainError | None:
    """The state checks, against the locked session row."""
    if session is None:
        return refused("session_not_found", "This session no longer exists.")
    if answer.student_id in removed:
        return refused("student_removed", "The teacher removed you from this session.")
    if session["state"] == Session.ENDED:
        return refused("session_ended", "This session has ended; answers are closed.")
    if session["state"] != Session.LIVE:
        return refused("session_not_live", "The session has not started yet.")
    if session["pacing"] == Session.INSTRUCTOR and answer.question_id != session["current_question_id"]:
        return refused("question_not_current", "The class has moved on from this question.", "question_id")
    if answer.question_id in session["locked"]:
        return refused("question_locked", "The teacher has locked answers to this question.", "question_id")
    return None


# --- the statements -------------------------------------------------------------------------


def _marks(count: int) -> str:
    return ", ".join(["%s"] * count)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def _postgresql() -> bool:
    return connection.vendor == "postgresql"


# On PostgreSQL every list travels as one array parameter, so each statement's text is the same
# whatever the batch's size: psycopg parses a long text with literal rows again on every call
# (~20 ms a batch of 16 here), and the server plans it again.


def _lock_sessions(cursor, session_ids: list[int]) -> dict[int, dict]:
    columns = "id, state, pacing, current_question_id, locked_question_ids"
    table = Session._meta.db_table
    if _postgresql():
        cursor.execute(
            f"SELECT {columns} FROM {table} WHERE id = ANY(%s) ORDER BY id FOR NO KEY UPDATE",  # noqa: S608
            [session_ids],
        )
    else:
        cursor.execute(
            f"SELECT {columns} FROM {table} WHERE id IN ({_marks(len(session_ids))}) ORDER BY id",  # noqa: S608
            session_ids,
        )
    return {
        row[0]: {
            "state": row[1],
            "pacing": row[2],
            "current_question_id": row[3],
            "locked": set(_json(row[4])),
        }
        for row in cursor.fetchall()
    }


Earlier = dict[tuple[int, str], tuple[int, dict]]  # (student, submission_id) -> (question, answer)


def _earlier_and_removed(cursor, batch: list[Answer]) -> tuple[Earlier, set[int]]:
    """One statement: the batch's earlier submissions, and which of its students were removed.

    On SQLite earlier submissions are found by both lists, then the exact pairs here."""
    students = sorted({answer.student_id for answer in batch})
    submissions, students_table = Submission._meta.db_table, Student._meta.db_table
    if _postgresql():
        pairs = sorted({(answer.student_id, answer.submission_id) for answer in batch})
        cursor.execute(
            f"SELECT 'e', s.student_id, s.submission_id, s.question_id, s.answer::text FROM {submissions} s "  # noqa: S608
            "JOIN unnest(%s::bigint[], %s::varchar[]) AS k(student_id, submission_id) "
            "ON s.student_id = k.student_id AND s.submission_id = k.submission_id "
            f"UNION ALL SELECT 'r', id, NULL, NULL, NULL FROM {students_table} "
            "WHERE id = ANY(%s) AND removed_at IS NOT NULL",
            [[pair[0] for pair in pairs], [pair[1] for pair in pairs], students],
        )
    else:
        ids = sorted({answer.submission_id for answer in batch})
        cursor.execute(
            f"SELECT 'e', student_id, submission_id, question_id, answer FROM {submissions} "  # noqa: S608
            f"WHERE student_id IN ({_marks(len(students))}) AND submission_id IN ({_marks(len(ids))}) "
            f"UNION ALL SELECT 'r', id, NULL, NULL, NULL FROM {students_table} "
            f"WHERE id IN ({_marks(len(students))}) AND removed_at IS NOT NULL",
            [*students, *ids, *students],
        )
    wanted = {(answer.student_id, answer.submission_id) for answer in batch}
    earlier: Earlier = {}
    removed: set[int] = set()
    for kind, student_id, submission_id, question_id, answer in cursor.fetchall():
        if kind == "r":
            removed.add(student_id)
        elif (student_id, submission_id) in wanted:
            earlier[(student_id, submission_id)] = (question_id, _json(answer))
    return earlier, removed


def _store(
    cursor, accepted: list[Answer], winners: list[Answer]
) -> tuple[dict[tuple[int, int], Response], dict[int, int]]:
    """Records every accepted submission, upserts the winners' responses and bumps each
    session's answers_seq by the responses changed in it. Returns the responses written, by
    (question, student), and the sessions' answers_seq after the batch. On PostgreSQL one
    statement (data-modifying CTEs); on SQLite three."""
    if connection.vendor == "postgresql":
        return _store_in_one_statement(cursor, accepted, winners)
    _insert_submissions(cursor, accepted)
    stored = _upsert_responses(cursor, winners)
    counts: dict[int, int] = defaultdict(int)
    for response in stored.values():
        counts[response.session_id] += 1
    return stored, _bump_answers_seq(cursor, counts)


def _submission_rows(answers: list[Answer]) -> tuple[str, list]:
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    params: list[Any] = []
    for answer in answers:
        params += [
            answer.student_id,
            answer.submission_id,
            answer.question_id,
            connection.ops.adapt_json_value(answer.answer, None),
            answer.source,
            now,
        ]
    return ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(answers)), params


def _response_rows(answers: list[Answer]) -> tuple[str, list]:
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    params: list[Any] = []
    for answer in answers:
        params += [
            answer.session_id,
            answer.question_id,
            answer.student_id,
            connection.ops.adapt_json_value(answer.answer, None),
            answer.is_correct,
            answer.source,
            answer.submission_id,
            answer.order,
            False,
            now,
            now,
        ]
    return ", ".join(["(%s, %s, %s, %s, %s, %s, %s, 1, %s, %s, %s, %s)"] * len(answers)), params


_SUBMISSION_INSERT = (
    "INSERT INTO {table} (student_id, submission_id, question_id, answer, source, received_at) VALUES {rows} "
    "ON CONFLICT (student_id, submission_id) DO NOTHING RETURNING id"
)
# The order guard is the WHERE: a stored answer later in the student's order stays.
_RESPONSE_UPSERT = (
    "INSERT INTO {table} (session_id, question_id, student_id, answer, is_correct, source, "
    "submission_id, version, client_order, starred, created_at, updated_at) VALUES {rows} "
    "ON CONFLICT (question_id, student_id) DO UPDATE SET answer = excluded.answer, "
    "is_correct = excluded.is_correct, source = excluded.source, "
    "submission_id = excluded.submission_id, version = {table}.version + 1, "
    "client_order = excluded.client_order, updated_at = excluded.updated_at "
    "WHERE {table}.client_order IS NULL OR excluded.client_order IS NULL "
    "OR excluded.client_order >= {table}.client_order "
    "RETURNING {columns}"
)


# PostgreSQL: the three writes as data-modifying CTEs fed by array parameters, and what they
# returned as one row. The order guard is the upsert's WHERE, as in _RESPONSE_UPSERT.
_STORE_IN_ONE = """
WITH recorded AS (
    INSERT INTO {submissions} (student_id, submission_id, question_id, answer, source, received_at)
    SELECT student_id, submission_id, question_id, answer, source, %(now)s
    FROM unnest(%(s_student)s::bigint[], %(s_id)s::varchar[], %(s_question)s::bigint[],
                %(s_answer)s::jsonb[], %(s_source)s::varchar[])
         AS k(student_id, submission_id, question_id, answer, source)
    ON CONFLICT (student_id, submission_id) DO NOTHING
    RETURNING id
), stored AS (
    INSERT INTO {responses} (session_id, question_id, student_id, answer, is_correct, source,
                             submission_id, version, client_order, starred, created_at, updated_at)
    SELECT session_id, question_id, student_id, answer, is_correct, source, submission_id, 1,
           client_order, false, %(now)s, %(now)s
    FROM unnest(%(r_session)s::bigint[], %(r_question)s::bigint[], %(r_student)s::bigint[],
                %(r_answer)s::jsonb[], %(r_correct)s::boolean[], %(r_source)s::varchar[],
                %(r_id)s::varchar[], %(r_order)s::bigint[])
         AS k(session_id, question_id, student_id, answer, is_correct, source, submission_id, client_order)
    ON CONFLICT (question_id, student_id) DO UPDATE SET answer = excluded.answer,
        is_correct = excluded.is_correct, source = excluded.source,
        submission_id = excluded.submission_id, version = {responses}.version + 1,
        client_order = excluded.client_order, updated_at = excluded.updated_at
    WHERE {responses}.client_order IS NULL OR excluded.client_order IS NULL
       OR excluded.client_order >= {responses}.client_order
    RETURNING {columns}
), bumped AS (
    UPDATE {sessions} AS s SET answers_seq = s.answers_seq + c.n
    FROM (SELECT session_id, count(*) AS n FROM stored GROUP BY session_id) AS c
    WHERE s.id = c.session_id
    RETURNING s.id, s.answers_seq
)
SELECT (SELECT count(*) FROM recorded),
       (SELECT json_agg(json_build_array(id, answers_seq)) FROM bumped),
       (SELECT json_agg(json_build_array({columns})) FROM stored)
"""


def _store_in_one_statement(
    cursor, accepted: list[Answer], winners: list[Answer]
) -> tuple[dict[tuple[int, int], Response], dict[int, int]]:
    def json_text(answer: Answer) -> str:
        return json.dumps(answer.answer, separators=(",", ":"))

    statement = _STORE_IN_ONE.format(
        submissions=Submission._meta.db_table,
        responses=Response._meta.db_table,
        sessions=Session._meta.db_table,
        columns=_RESPONSE_COLUMNS,
    )
    cursor.execute(
        statement,
        {
            "now": timezone.now(),
            "s_student": [answer.student_id for answer in accepted],
            "s_id": [answer.submission_id for answer in accepted],
            "s_question": [answer.question_id for answer in accepted],
            "s_answer": [json_text(answer) for answer in accepted],
            "s_source": [answer.source for answer in accepted],
            "r_session": [answer.session_id for answer in winners],
            "r_question": [answer.question_id for answer in winners],
            "r_student": [answer.student_id for answer in winners],
            "r_answer": [json_text(answer) for answer in winners],
            "r_correct": [answer.is_correct for answer in winners],
            "r_source": [answer.source for answer in winners],
            "r_id": [answer.submission_id for answer in winners],
            "r_order": [answer.order for answer in winners],
        },
    )
    recorded, bumped, rows = cursor.fetchone()
    if recorded != len(accepted):
        raise _ConcurrentReplay
    responses = [_response(row) for row in _json(rows) or []]
    return (
        {(response.question_id, response.student_id): response for response in responses},
        {session_id: answers_seq for session_id, answers_seq in _json(bumped) or []},
    )


def _insert_submissions(cursor, answers: list[Answer]) -> None:
    rows, params = _submission_rows(answers)
    cursor.execute(_SUBMISSION_INSERT.format(table=Submission._meta.db_table, rows=rows), params)
    if len(cursor.fetchall()) != len(answers):
        raise _ConcurrentReplay


_RESPONSE_COLUMNS = (
    "id, session_id, question_id, student_id, answer, is_correct, source, submission_id, version, "
    "client_order, starred, created_at, updated_at"
)


def _upsert_responses(cursor, answers: list[Answer]) -> dict[tuple[int, int], Response]:
    """The winners' responses; returns the rows written, by (question, student) (a row the order
    guard kept is not among them)."""
    rows, params = _response_rows(answers)
    table = Response._meta.db_table
    cursor.execute(_RESPONSE_UPSERT.format(table=table, rows=rows, columns=_RESPONSE_COLUMNS), params)
    return {
        (response.question_id, response.student_id): response
        for response in map(_response, cursor.fetchall())
    }


def _response(row) -> Response:
    names = [name.strip() for name in _RESPONSE_COLUMNS.split(",")]
    values = dict(zip(names, row, strict=True))
    values["answer"] = _json(values["answer"])
    for name in ("created_at", "updated_at"):
        values[name] = _datetime(values[name])
    values["is_correct"] = None if values["is_correct"] is None else bool(values["is_correct"])
    values["starred"] = bool(values["starred"])
    return Response(**values)


def _datetime(value):
    if isinstance(value, str):  # SQLite hands back its text
        return Response._meta.get_field("created_at").to_python(value)
    return value


def _current_responses(pairs: set[tuple[int, int]]) -> dict[tuple[int, int], Response]:
    if not pairs:
        return {}
    questions = {question_id for question_id, _student in pairs}
    students = {student_id for _question, student_id in pairs}
    found = Response.objects.filter(question_id__in=questions, student_id__in=students)
    return {
        (response.question_id, response.student_id): response
        for response in found
        if (response.question_id, response.student_id) in pairs
    }


def _bump_answers_seq(cursor, counts: dict[int, int]) -> dict[int, int]:
    if not counts:
        return {}
    ids = sorted(counts)
    cases = " ".join("WHEN %s THEN %s" for _ in ids)
    cursor.execute(
        f"UPDATE {Session._meta.db_table} SET answers_seq = answers_seq + CASE id {cases} END "  # noqa: S608
        f"WHERE id IN ({_marks(len(ids))}) RETURNING id, answers_seq",
        [*(value for session_id in ids for value in (session_id, counts[session_id])), *ids],
    )
    return dict(cursor.fetchall())


# --- for callers ------------------------------------------------------------------------------


def check_order(order: Any) -> int | None:
    if order is None:
        return None
    if not isinstance(order, int) or isinstance(order, bool) or not 0 <= order < ORDER_LIMIT:
        raise DomainError("invalid", "order must be an integer from 0 to 2**53 - 1", field="order")
    return order


def cleaned(
    *,
    student_id: int,
    session_id: int,
    question_id: int,
    submission_id: str,
    answer: Any,
    source: str,
    order,
    cached_only: bool = False,
) -> Answer | None:
    """Checks an answer against the cached live state of its session, with no query when the
    record is fresh: the question must be the session's and the answer valid for its kind, and the
    student not removed. The rest (state, pacing, locks) is decided by the writer, after it has
    looked for a replay. With `cached_only` (on the event loop) None when the record would have
    to be read first."""
    if cached_only:
        record = live_state.cached_session(session_id, ttl=live_state.ANSWER_TTL_SECONDS)
        if record is None:
            return None
    else:
        record = live_state.session(session_id, ttl=live_state.ANSWER_TTL_SECONDS)
    if record is None:
        raise refused("session_not_found", "This session no longer exists.")
    if student_id in record.removed:
        raise refused("student_removed", "The teacher removed you from this session.")
    question = record.questions.get(question_id)
    if question is None:
        raise refused("question_not_found", f"Question {question_id} is not in this session.", "question_id")
    value = kinds.clean_answer(question.kind, question.config, answer)
    return Answer(
        student_id=student_id,
        session_id=session_id,
        question_id=question_id,
        kind=question.kind,
        submission_id=submission_id,
        answer=value,
        is_correct=kinds.is_correct(question.kind, question.config, value),
        source=source,
        order=order,
    )


def elapsed_since(started: float) -> float:
    return time.perf_counter() - started
