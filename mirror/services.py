"""Writes for the mirror: relaying outbox entries to Firebase (mirror/outbox.py writes them),
clearing ended sessions from it, and ingesting the inbox."""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from domain import untrusted
from domain.errors import DomainError
from integrations import firebase
from mirror import selectors
from mirror.models import ClearedSession, OutboxEntry
from observability import metrics
from responses import intake
from responses.services import submit_responses
from sessions.models import Session, Student

log = logging.getLogger(__name__)

# Keys an inbox entry may hold; database.rules.json allows the same (and requires question_id,
# answer and at; `order` is the student's own order of their answers, passed on to the writer).
INBOX_ENTRY_KEYS = {"question_id", "answer", "at", "order"}
# The largest entry database.rules.json lets a student write is a drawing of 256 KiB as one string
# (a text answer is at most 5,000 characters); anything much larger did not come through the
# rules and is refused unread (a stand-in or emulator without rules, a rules deployment gone wrong).
MAX_INBOX_ENTRY_CHARS = 300_000
# Firebase's trees that hold something of a session, all cleared with it.
SESSION_TREES = ("sessions", "acks", "inbox", "sent")


@dataclass
class RelayOutcome:
    relayed_entries: int = 0
    writes: int = 0
    sessions: int = 0
    failures: dict[int, BaseException] = field(default_factory=dict)  # by shard


def relay_outbox(*, batch_size: int = 1000, skip_shards: frozenset[int] = frozenset()) -> RelayOutcome:
    """Sends the oldest outbox entries to Firebase: one multi-path write per shard.

    Documents are recomputed now, after the entries were read, so each one holds at least the
    change of every entry it settles. Entries are deleted by id once their shard's write
    succeeded; an entry committed meanwhile (even with a lower id) stays for the next round.
    A crash between the write and the delete only means the same documents are written again.
    """
    outcome = RelayOutcome()
    rows = list(OutboxEntry.objects.order_by("id").values_list("id", "session_id")[:batch_size])
    if not rows:
        return outcome
    entry_ids: dict[int, list[int]] = defaultdict(list)  # by shard
    session_ids: dict[int, set[int]] = defaultdict(set)  # by shard
    for entry_id, session_id in rows:
        shard = firebase.shard_of(session_id)
        if shard in skip_shards:
            continue
        entry_ids[shard].append(entry_id)
        session_ids[shard].add(session_id)
    documents = selectors.mirror_documents({sid for sids in session_ids.values() for sid in sids})
    for shard, sids in session_ids.items():
        update = {str(sid): documents[sid] for sid in sorted(sids)}
        try:
            firebase.update("/sessions", update, shard=shard)
        except Exception as exc:  # any failure leaves the entries for a later round
            log.warning("relaying %d sessions to shard %d failed: %s", len(sids), shard, exc)
            outcome.failures[shard] = exc
            continue
        OutboxEntry.objects.filter(id__in=entry_ids[shard]).delete()
        outcome.writes += 1
        outcome.sessions += len(sids)
        outcome.relayed_entries += len(entry_ids[shard])
    return outcome


# --- clearing ended sessions ------------------------------------------------------------------


@dataclass
class ClearOutcome:
    sessions: int = 0
    writes: int = 0
    failures: dict[int, BaseException] = field(default_factory=dict)  # by shard


def clear_ended_sessions(
    *, now: datetime | None = None, batch_size: int = 500, skip_shards: frozenset[int] = frozenset()
) -> ClearOutcome:
    """Deletes from Firebase what sessions that ended over FIREBASE_RETENTION_HOURS ago left
    there: the state document, the acknowledgements, the students' sent markers and any inbox
    entries never taken in (they would be refused: the session is over). One multi-path write
    per shard, then the sessions are noted as cleared. A session with changes still waiting in
    the outbox waits too, so that the relay never writes a document back after it was cleared.
    Deleting twice is harmless, so a crash between the write and the note only means the same
    deletion again.
    """
    cutoff = (now or timezone.now()) - timedelta(hours=settings.FIREBASE_RETENTION_HOURS)
    ended = list(
        Session.objects.filter(state=Session.ENDED, ended_at__lt=cutoff)
        .exclude(pk__in=ClearedSession.objects.values("session_id"))
        .exclude(pk__in=OutboxEntry.objects.values("session_id"))
        .order_by("ended_at", "pk")
        .values_list("pk", flat=True)[:batch_size]
    )
    by_shard: dict[int, list[int]] = defaultdict(list)
    for session_id in ended:
        by_shard[firebase.shard_of(session_id)].append(session_id)
    outcome = ClearOutcome()
    for shard, session_ids in sorted(by_shard.items()):
        if shard in skip_shards:
            continue
        deletions = {f"{tree}/{session_id}": None for session_id in session_ids for tree in SESSION_TREES}
        try:
            firebase.update("/", deletions, shard=shard)
        except Exception as exc:  # the sessions stay uncleared for a later round
            log.warning("clearing %d ended sessions on shard %d failed: %s", len(session_ids), shard, exc)
            outcome.failures[shard] = exc
            continue
        ClearedSession.objects.bulk_create(
            [ClearedSession(session_id=session_id) for session_id in session_ids], ignore_conflicts=True
        )
        outcome.writes += 1
        outcome.sessions += len(session_ids)
    return outcome


# --- the inbox --------------------------------------------------------------------------------


@dataclass(frozen=True)
class InboxEntry:
    """One answer a student wrote at /inbox/<session_id>/<uid>/<submission_id>."""

    session_id: int
    uid: str
    submission_id: str
    value: Any

    @property
    def key(self) -> str:
        return f"{self.session_id}/{self.uid}/{self.submission_id}"


def _refused(code: str, message: str, field: str | None = None) -> dict:
    # Firebase stores only valid Unicode, and a field can name a key the student made up.
    ack = {"status": "refused", "code": code, "message": untrusted.printable(message, 500)}
    if field:
        ack["field"] = untrusted.printable(field)
    return ack


def is_transient(exc: BaseException) -> bool:
    """An error that is not the entry's fault (the database away or restarting): the entry waits
    for a later tick. Any other error is the entry's, and refuses it."""
    return isinstance(exc, OperationalError | InterfaceError)


def ingest_inbox_entry(entry: InboxEntry) -> dict:
    """One entry through ingest_inbox_entries; a transient error propagates."""
    [result] = ingest_inbox_entries([entry])
    if isinstance(result, BaseException):
        raise result
    return result


def ingest_inbox_entries(entries: list[InboxEntry]) -> list[dict | BaseException]:
    """Stores inbox answers through the same writer as HTTP and sockets, all handed to it at once
    (one batch, one transaction); returns each entry's acknowledgement, in order.

    An acknowledgement is `{"status": "stored", "question_id", "version"}`, `{"status":
    "superseded", "question_id", "version", "answer"}` (a later answer of the student's, by their
    order, is what is stored) or `{"status": "refused", "code", "message"[, "field"]}`. A replayed
    entry (same student and submission_id) is the same response, acknowledged again. An error
    that is not the answer's fault (the database away, `is_transient`) is returned in the entry's
    place: the entry is then neither stored nor acknowledged. Any other error, however
    unexpected, refuses that entry alone: one student's entry never stops the worker.
    """
    results: list[dict | BaseException | None] = [None] * len(entries)
    students = _students_of(entries)
    submitted: list[tuple[int, dict]] = []
    for index, entry in enumerate(entries):
        try:
            checked = _checked(entry, students)
        except Exception as exc:
            results[index] = _unexpected(entry, exc)
            continue
        if "status" in checked:
            results[index] = checked
        else:
            submitted.append((index, checked))
    futures = submit_responses([arguments for _index, arguments in submitted]) if submitted else []
    for (index, _arguments), future in zip(submitted, futures, strict=True):
        try:
            results[index] = acknowledgement(intake.wait(future))
        except DomainError as exc:
            results[index] = _refused(exc.code, exc.message, exc.field)
        except Exception as exc:
            results[index] = _unexpected(entries[index], exc)
    return results


def _unexpected(entry: InboxEntry, exc: BaseException) -> dict | BaseException:
    if is_transient(exc):
        return exc
    log.error("inbox entry %s refused after an unexpected error", entry.key, exc_info=exc)
    metrics.FIREBASE_ERRORS.labels(operation="ingest", reason="error").inc()
    return _refused("internal", "This answer could not be stored; send it again another way.")


def _students_of(entries: list[InboxEntry]) -> dict[int, Student]:
    """The entries' students, in one query: only what submit_response reads."""
    ids = {firebase.student_id_of_uid(entry.uid) for entry in entries} - {None}
    return {student.pk: student for student in Student.objects.only("id", "session_id").filter(pk__in=ids)}


def _checked(entry: InboxEntry, students: dict[int, Student]) -> dict:
    """submit_response's arguments for an entry, or its refusal (an ack with a status)."""
    student = students.get(firebase.student_id_of_uid(entry.uid))
    if student is None or student.session_id != entry.session_id:
        return _refused("student_not_found", "No such student in this session.")
    value = entry.value
    if not isinstance(value, dict) or not INBOX_ENTRY_KEYS.issuperset(value) or "question_id" not in value:
        return _refused("invalid", "An inbox entry is {question_id, answer, at}.", "answer")
    if len(json.dumps(value, separators=(",", ":"))) > MAX_INBOX_ENTRY_CHARS:
        return _refused("payload_too_large", "This answer is larger than any question takes.", "answer")
    try:
        answer = _answer_of(value.get("answer"))
    except DomainError as exc:
        return _refused(exc.code, exc.message, exc.field)
    return {
        "student": student,
        "question_id": value["question_id"],
        "submission_id": entry.submission_id,
        "answer": answer,
        "source": "firebase",
        "order": value.get("order"),
    }


def acknowledgement(submitted) -> dict:
    """`stored`, or `superseded` (a later answer of the student's, by their order, is stored:
    the ack carries it) for an accepted answer."""
    if submitted.superseded:
        return {
            "status": "superseded",
            "question_id": submitted.response.question_id,
            "version": submitted.response.version,
            "answer": submitted.response.answer,
        }
    return {
        "status": "stored",
        "question_id": submitted.response.question_id,
        "version": submitted.response.version,
    }


def _answer_of(answer: Any) -> Any:
    """The answer as HTTP would carry it: a drawing's strokes come through Firebase as one JSON
    string (so that the rules can bound its length), read by the same reader as every body."""
    if isinstance(answer, dict) and isinstance(answer.get("strokes"), str):
        try:
            return {**answer, "strokes": untrusted.loads(answer["strokes"])}
        except untrusted.UnreadableJson as exc:
            raise DomainError(
                "invalid_answer", f"answer.strokes: {exc.message}", field="answer.strokes"
            ) from exc
    return answer


def cleared_sessions_among(session_ids: set[int]) -> set[int]:
    """Those of the sessions whose Firebase data the worker has deleted already."""
    if not session_ids:
        return set()
    return set(
        ClearedSession.objects.filter(session_id__in=list(session_ids)).values_list("session_id", flat=True)
    )


def entries_from_event(event_type: str, path: str, data: Any) -> tuple[list[InboxEntry], list[str]]:
    """Reads a streaming event of a listener on /inbox.

    Returns the entries present after it, and the keys of entries written below their own level
    (a child of an entry changed: the whole entry must be read again). `patch` keys may be slash
    paths; nulls are deletions and yield nothing. Anything not at the inbox's depth is ignored.
    """
    base = [segment for segment in (path or "").split("/") if segment]
    updates: list[tuple[list[str], Any]] = []
    if event_type == "put":
        updates.append((base, data))
    elif event_type == "patch" and isinstance(data, dict):
        for key, value in data.items():
            updates.append((base + [segment for segment in str(key).split("/") if segment], value))
    entries: list[InboxEntry] = []
    reread: list[str] = []
    for segments, value in updates:
        if len(segments) > 3:
            reread.append("/".join(segments[:3]))
            continue
        _collect(segments, value, entries)
    return entries, reread


def _collect(segments: list[str], value: Any, into: list[InboxEntry]) -> None:
    if value is None:
        return
    if len(segments) == 3:
        session, uid, submission_id = segments
        if session.isdigit():
            into.append(InboxEntry(int(session), uid, submission_id, value))
        return
    if isinstance(value, dict):
        for key, child in value.items():
            _collect([*segments, str(key)], child, into)
    elif isinstance(value, list):  # Firebase renders integer-keyed children as a list
        for index, child in enumerate(value):
            _collect([*segments, str(index)], child, into)
