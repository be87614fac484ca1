"""The Firebase worker: relays the outbox and ingests the inbox, one loop, one process.

Streaming listeners (one per shard, on /inbox) only queue their events; everything that touches
the database or writes to Firebase happens in `tick()`, one at a time, on the loop's thread
(inbox answers are written by the process's answer writer, responses/intake.py, which the tick
waits for):

1. restart any listener whose SDK thread died (the SDK gives up after a failed reconnection);
2. ingest queued inbox entries through responses.services.submit_response, then write their
   acknowledgements (one multi-path write per shard to /acks) and delete them from the inbox
   (one more per shard); acknowledgements that could not be written are kept and retried.
   A tick takes the waiting entries round-robin across students, at most INGEST_PER_STUDENT of
   each and INGEST_BATCH in all (fair_batch), and hands them to the writer at once
   (services.ingest_inbox_entries): they are written in one transaction, a student's answers
   applied in their order (their `order`, else arrival), and the tick waits for the commit
   before acknowledging, so the next tick never overtakes this one. An entry that fails is
   refused with an acknowledgement; when the database is away the whole tick's entries wait for
   the next tick together (one transaction), so no student's later answer is stored before an
   earlier one, while the acks, the relay and the rest of the tick go on. Acknowledgements of a
   session already cleared from Firebase are not written (the entry is only deleted), so
   nothing of it is left behind;
3. relay the outbox (one multi-path write per shard);
4. once a minute, delete from Firebase what sessions ended FIREBASE_RETENTION_HOURS ago left
   there (services.clear_ended_sessions; one more multi-path write per shard);
5. refresh the backlog and lag gauges.

So Firebase sees at most three writes per shard per tick, however many answers came in, and a
fourth once a minute. A shard
that fails is retried after an exponential backoff with jitter, without holding up the others.
A restarted listener first receives every entry still in the inbox: entries stored before but
not yet acknowledged are replayed, and submit_response makes each replay the same response.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import DatabaseError, close_old_connections

from integrations import firebase
from mirror import selectors, services
from observability import metrics
from responses import intake

log = logging.getLogger(__name__)

# A burst of answers is spread over several ticks, so the outbox relay (the teacher's changes
# reaching the class) is never held up long: a tick takes in at most this many entries, one
# batch of the answer writer (at most its MAX_BATCH, so a tick is one transaction).
INGEST_BATCH = 1000
# Fairness: a tick takes the students' waiting entries round-robin (everyone's first, then
# everyone's second...) and at most this many of one student, so a student who floods their inbox
# delays only their own answers.
INGEST_PER_STUDENT = 2
CLEAR_INTERVAL_SECONDS = 60.0


class Backoff:
    """Exponential backoff with jitter: after n failures wait base * 2^(n-1), capped, times [0.5, 1)."""

    def __init__(self, *, base: float = 0.5, cap: float = 30.0, rng: Callable[[], float] = random.random):
        self.base = base
        self.cap = cap
        self.rng = rng
        self.failures = 0
        self.ready_at = 0.0

    def ready(self, now: float) -> bool:
        return now >= self.ready_at

    def failed(self, now: float) -> float:
        self.failures += 1
        delay = min(self.cap, self.base * 2 ** (self.failures - 1))
        delay = delay * (0.5 + self.rng() / 2)
        self.ready_at = now + delay
        return delay

    def succeeded(self) -> None:
        self.failures = 0
        self.ready_at = 0.0


@dataclass
class TickOutcome:
    ingested: int = 0
    acknowledged: int = 0
    relayed_entries: int = 0
    cleared_sessions: int = 0
    writes: int = 0
    errors: list[str] = field(default_factory=list)


class FirebaseWorker:
    def __init__(
        self,
        *,
        batch_size: int = 1000,
        ingest_batch: int = INGEST_BATCH,
        ingest_per_student: int = INGEST_PER_STUDENT,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        clear_interval: float = CLEAR_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.batch_size = batch_size
        self.clear_interval = clear_interval
        self._next_clear = 0.0
        self.ingest_batch = min(ingest_batch, intake.MAX_BATCH)
        self.ingest_per_student = ingest_per_student
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.clock = clock
        self._events: queue.SimpleQueue = queue.SimpleQueue()
        self._listeners: dict[int, object] = {}
        self._listen_backoff: dict[int, Backoff] = {}
        self._write_backoff: dict[int, Backoff] = {}
        # Entries read from the listeners but not yet stored, by (shard, inbox key).
        self._pending: dict[tuple[int, str], services.InboxEntry] = {}
        # Acknowledgements stored but not yet written, by shard then inbox key.
        self._unacked: dict[int, dict[str, dict]] = {}
        self.total_writes = 0

    # --- the loop ------------------------------------------------------------------------------

    def run(self, *, interval: float, stop: threading.Event) -> None:
        while not stop.is_set():
            started = self.clock()
            # Like a request: drop a connection that broke or aged out (or hand it back to the pool).
            close_old_connections()
            try:
                self.tick()
            except Exception:
                # The database away, say: keep serving metrics and try again next tick.
                log.exception("firebase worker tick failed")
                metrics.FIREBASE_ERRORS.labels(operation="tick", reason="error").inc()
            stop.wait(max(0.0, interval - (self.clock() - started)))

    def tick(self) -> TickOutcome:
        outcome = TickOutcome()
        if firebase.is_enabled():
            self._ensure_listeners(outcome)
            self._ingest(outcome)
            self._send_acks(outcome)
            self._relay(outcome)
            self._clear(outcome)
        self.update_gauges()
        self.total_writes += outcome.writes
        return outcome

    def update_gauges(self) -> None:
        backlog, lag = selectors.outbox_backlog()
        metrics.OUTBOX_BACKLOG.set(backlog)
        metrics.FIREBASE_MIRROR_LAG.set(lag)

    def close(self, timeout: float = 5.0) -> None:
        """Stops the listeners. The SDK's close() returns only once the server next writes on the
        stream (a keep-alive at the latest), so it is given `timeout` seconds."""
        registrations, self._listeners = list(self._listeners.values()), {}
        closers = [threading.Thread(target=registration.close, daemon=True) for registration in registrations]
        for closer in closers:
            closer.start()
        deadline = self.clock() + timeout
        for closer in closers:
            closer.join(max(0.0, deadline - self.clock()))

    # --- steps ---------------------------------------------------------------------------------

    def _failed(self, backoffs: dict[int, Backoff], shard: int, operation: str, exc: BaseException, outcome):
        reason = firebase.error_reason(exc)
        metrics.FIREBASE_ERRORS.labels(operation=operation, reason=reason).inc()
        backoff = backoffs.setdefault(shard, Backoff(base=self.backoff_base, cap=self.backoff_cap))
        delay = backoff.failed(self.clock())
        outcome.errors.append(f"{operation} shard {shard}: {reason}")
        log.warning(
            "firebase %s on shard %d failed (%s); retrying in %.1f s", operation, shard, reason, delay
        )

    def _ready(self, backoffs: dict[int, Backoff], shard: int) -> bool:
        backoff = backoffs.get(shard)
        return backoff is None or backoff.ready(self.clock())

    def _writes_backing_off(self) -> frozenset[int]:
        """The shards whose last write failed and whose backoff has not run out yet."""
        return frozenset(
            shard for shard in range(firebase.shard_count()) if not self._ready(self._write_backoff, shard)
        )

    def _ensure_listeners(self, outcome: TickOutcome) -> None:
        for shard in range(firebase.shard_count()):
            registration = self._listeners.get(shard)
            if registration is not None and firebase.listener_alive(registration):
                continue
            if not self._ready(self._listen_backoff, shard):
                continue
            if registration is not None:
                metrics.FIREBASE_ERRORS.labels(operation="listen", reason="listener_died").inc()
                log.warning("inbox listener on shard %d died; listening again", shard)
            try:
                self._listeners[shard] = firebase.listen("/inbox", self._callback(shard), shard=shard)
            except Exception as exc:
                self._listeners.pop(shard, None)
                self._failed(self._listen_backoff, shard, "listen", exc, outcome)
            else:
                self._listen_backoff.pop(shard, None)

    def _callback(self, shard: int):
        def on_event(event) -> None:
            self._events.put((shard, event.event_type, event.path, event.data))

        return on_event

    def _ingest(self, outcome: TickOutcome) -> None:
        latest = self._pending  # a later event about the same entry wins
        rereads: set[tuple[int, str]] = set()
        while True:
            try:
                shard, event_type, path, data = self._events.get_nowait()
            except queue.Empty:
                break
            entries, reread = services.entries_from_event(event_type, path, data)
            for entry in entries:
                latest[(shard, entry.key)] = entry
            rereads.update((shard, key) for key in reread)
        for shard, key in rereads - set(latest):
            try:
                value = firebase.reference(f"/inbox/{key}", shard=shard).get()
            except Exception as exc:
                self._failed(self._listen_backoff, shard, "read", exc, outcome)
                continue
            session_id, uid, submission_id = key.split("/")
            if value is not None:
                latest[(shard, key)] = services.InboxEntry(int(session_id), uid, submission_id, value)
        # The caps and the deadline leave the rest pending for the next tick, in order.
        batch = fair_batch(latest, limit=self.ingest_batch, per_student=self.ingest_per_student)
        if not batch:
            return
        results = services.ingest_inbox_entries([entry for _shard, _key, entry in batch])
        failure = None
        for (shard, key, _entry), result in zip(batch, results, strict=True):
            if isinstance(result, BaseException):
                failure = failure or result
                continue
            self._unacked.setdefault(shard, {})[key] = result
            del latest[(shard, key)]
            outcome.ingested += 1
        if failure is not None:
            # The database away: those entries wait; the acks, the relay and the rest go on.
            metrics.FIREBASE_ERRORS.labels(operation="ingest", reason="unavailable").inc()
            outcome.errors.append(f"ingest: {failure}")
            log.warning("taking in inbox entries failed (%s); they wait for the next tick", failure)

    def _send_acks(self, outcome: TickOutcome) -> None:
        for shard, acks in list(self._unacked.items()):
            if not acks or not self._ready(self._write_backoff, shard):
                continue
            batch = dict(list(acks.items())[: self.batch_size])
            try:
                cleared = services.cleared_sessions_among({int(key.split("/", 1)[0]) for key in batch})
            except DatabaseError:  # the database away: acks still go out, as they need none
                cleared = set()
            # An ack written for a session already cleared would stay in Firebase for good.
            written = {
                key: (None if int(key.split("/", 1)[0]) in cleared else ack) for key, ack in batch.items()
            }
            try:
                firebase.update("/acks", written, shard=shard)
                outcome.writes += 1
                # Only once acknowledged does an entry leave the inbox: a crash before this line
                # replays it to the next listener, and replays are harmless.
                firebase.update("/inbox", dict.fromkeys(batch), shard=shard)
                outcome.writes += 1
            except Exception as exc:
                self._failed(self._write_backoff, shard, "ack", exc, outcome)
                continue
            for key in batch:
                acks.pop(key, None)
            outcome.acknowledged += len(batch)

    def _relay(self, outcome: TickOutcome) -> None:
        waiting = self._writes_backing_off()
        relayed = services.relay_outbox(batch_size=self.batch_size, skip_shards=waiting)
        outcome.relayed_entries += relayed.relayed_entries
        outcome.writes += relayed.writes
        for shard, exc in relayed.failures.items():
            self._failed(self._write_backoff, shard, "relay", exc, outcome)
        for shard in range(firebase.shard_count()):
            if shard not in relayed.failures and shard not in waiting:
                self._write_backoff.pop(shard, None)

    def _clear(self, outcome: TickOutcome) -> None:
        if self.clock() < self._next_clear:
            return
        self._next_clear = self.clock() + self.clear_interval
        cleared = services.clear_ended_sessions(skip_shards=self._writes_backing_off())
        outcome.cleared_sessions += cleared.sessions
        outcome.writes += cleared.writes
        for shard, exc in cleared.failures.items():
            self._failed(self._write_backoff, shard, "clear", exc, outcome)


# --- ingest lanes ----------------------------------------------------------------------------


Lane = list[tuple[int, str, services.InboxEntry]]  # (shard, inbox key, entry), in arrival order


def fair_batch(pending: dict[tuple[int, str], services.InboxEntry], *, limit: int, per_student: int) -> Lane:
    """Up to `limit` of the pending entries (in arrival order), taken round-robin across students:
    every student's first entry, then every student's second, and so on, never more than
    `per_student` of one. Each student's entries keep their own order."""
    by_student: dict[str, list[tuple[int, str, services.InboxEntry]]] = {}
    for (shard, key), entry in pending.items():
        queue_ = by_student.setdefault(entry.uid, [])
        if len(queue_) < per_student:
            queue_.append((shard, key, entry))
    batch: Lane = []
    for round_ in range(per_student):
        for entries in by_student.values():
            if round_ < len(entries):
                batch.append(entries[round_])
                if len(batch) >= limit:
                    return batch
    return batch
