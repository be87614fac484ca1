"""peardeck's live protocol, client side, in Python: what static/peardeck/client.js and the pages
do with what they receive, for tests and benchmarks that play many clients at once.

The rules (README, "Live updates: what each role is guaranteed"):
- a piece of state is kept only if its version is at least the one held: the session part
  (state, question, locks, roster) by `seq`, each tally by the `answers_seq` of the snapshot it
  came from, each response by its own `version`;
- an event whose `seq` skips one means one was lost: the client asks for the state (`sync`);
- tally events say which `answers_seq` ranges they cover; a client holds a watermark up to which
  it has every change, and a hole that stays open for CHECK_SECONDS, or a tally event newer than
  the session it knows, makes it sync too; and once answers have gone quiet for QUIET_SECONDS it
  syncs once, so a last event lost with a killed worker is caught;
- a reconnect says what it holds: `?since=<seq>&answers_since=<watermark>`.

Missing versions (a server without them) are treated as "always newer", as the pages did before:
then whatever arrives last wins.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

import websockets

PROTOCOL = "peardeck.v1"
CHECK_SECONDS = 1.5
QUIET_SECONDS = 3.0
FATAL_CLOSE = {4400, 4401, 4403, 4404}


class Watermark:
    """The answers_seq up to which a client holds every change. A document read at n holds all
    changes up to n; a tally event covering (before, after] extends it when it joins up."""

    def __init__(self) -> None:
        self.held: int | None = None
        self.ranges: list[tuple[int, int]] = []

    def document(self, answers_seq: int | None) -> None:
        if answers_seq is not None and (self.held is None or answers_seq > self.held):
            self.held = answers_seq
        self._join()

    def covered(self, before: int, after: int) -> None:
        self.ranges.append((before, after))
        self._join()

    def _join(self) -> None:
        if self.held is None:
            return
        joined = True
        while joined:
            joined = False
            for before, after in list(self.ranges):
                if before <= self.held:
                    self.held = max(self.held, after)
                    self.ranges.remove((before, after))
                    joined = True

    @property
    def hole(self) -> bool:
        return bool(self.ranges)


def newer_or_same(version, held) -> bool:
    return version is None or held is None or version >= held


class Model:
    """What one connection of a role holds. Subclasses keep the role's pieces."""

    def __init__(self) -> None:
        self.seq = -1
        self.seen_seq = -1  # the highest seq a tally event said the session had
        self.answers = Watermark()
        self.removed = False

    def held(self) -> dict:
        held = {}
        if self.seq >= 0:
            held["seq"] = self.seq
        if self.answers.held is not None:
            held["answers_seq"] = self.answers.held
        return held

    def document(self, doc: dict) -> None:
        if doc["seq"] >= self.seq:
            self.seq = doc["seq"]
            self.session_part(doc)
        self.answer_pieces(doc)
        self.answers.document(doc.get("answers_seq"))

    def event(self, event: dict) -> str | None:
        """Applies one event; returns "sync" when the state must be asked for now, "check" when
        it should be if nothing fills the gap within CHECK_SECONDS."""
        kind = event["type"]
        if kind == "tallies":
            self.tallies_event(event)
            for before, after in event.get("covers", []):
                self.answers.covered(before, after)
            self.seen_seq = max(self.seen_seq, event.get("seq", -1))
            if self.seen_seq > self.seq or self.answers.hole:
                return "check"
            return None
        if "seq" not in event:
            return None
        if event["seq"] <= self.seq:
            return None  # a repeat, or older than a document already applied
        if event["seq"] > self.seq + 1:
            return "sync"
        self.seq = event["seq"]
        self.session_event(event)
        return None

    def behind(self) -> bool:
        return self.answers.hole or self.seen_seq > self.seq

    # the pieces of each role
    def session_part(self, doc: dict) -> None: ...
    def answer_pieces(self, doc: dict) -> None: ...
    def tallies_event(self, event: dict) -> None: ...
    def session_event(self, event: dict) -> None: ...


class Dashboard(Model):
    def __init__(self) -> None:
        super().__init__()
        self.roster: dict[int, bool] = {}  # student id -> removed
        self.current_question_id = None
        self.locked: set[int] = set()
        self.tallies: dict[int, tuple[int | None, dict]] = {}  # question id -> (answers_seq, tally)
        self.responses: dict[
            tuple[int, int], tuple[int, dict]
        ] = {}  # (question, student) -> (version, answer)

    def session_part(self, doc):
        self.roster = {student["id"]: student["removed"] for student in doc["students"]}
        self.current_question_id = doc["current_question_id"]
        self.locked = set(doc["locked_question_ids"])

    def answer_pieces(self, doc):
        stamp = doc.get("answers_seq")
        for tally in doc.get("tallies", []):
            self._tally(stamp, tally)
        for response in doc.get("responses", []):
            self._response(response)

    def tallies_event(self, event):
        for tally in event["tallies"]:
            self._tally(event.get("answers_seq"), tally)
        for response in event.get("responses", []):
            self._response(response)

    def _tally(self, stamp, tally):
        held = self.tallies.get(tally["question_id"])
        if held is None or newer_or_same(stamp, held[0]):
            self.tallies[tally["question_id"]] = (stamp, tally)

    def _response(self, response):
        key = (response["question_id"], response["student_id"])
        held = self.responses.get(key)
        if held is None or response["version"] >= held[0]:
            self.responses[key] = (response["version"], response["answer"])

    def session_event(self, event):
        kind = event["type"]
        if kind == "student_joined":
            self.roster.setdefault(event["student_id"], False)
        elif kind == "student_removed":
            self.roster[event["student_id"]] = True
        elif kind in ("question_changed", "session_started"):
            self.current_question_id = event["question_id"]
        elif kind == "question_locked":
            self.locked.add(event["question_id"])
        elif kind == "question_unlocked":
            self.locked.discard(event["question_id"])


class StudentView(Model):
    def __init__(self) -> None:
        super().__init__()
        self.state = None
        self.current_question_id = None
        self.locked = None
        self.answers_given: dict[int, tuple[int, dict]] = {}  # question id -> (version, answer)

    def session_part(self, doc):
        self.state = doc["state"]
        self.current_question_id = doc["question"]["id"] if doc.get("question") else None
        self.locked = doc["locked"]

    def answer_pieces(self, doc):
        if doc.get("question") and doc.get("answer"):
            self.own(doc["question"]["id"], doc["answer"]["version"], doc["answer"]["answer"])

    def own(self, question_id, version, answer):
        held = self.answers_given.get(question_id)
        if held is None or version >= held[0]:
            self.answers_given[question_id] = (version, answer)

    def session_event(self, event):
        kind = event["type"]
        if kind in ("question_changed", "session_started"):
            self.state = "live"
            self.current_question_id = event["question_id"]
            self.locked = event["locked"]
        elif (
            kind in ("question_locked", "question_unlocked")
            and event["question_id"] == self.current_question_id
        ):
            self.locked = kind == "question_locked"
        elif kind == "session_ended":
            self.state, self.locked = "ended", True
        elif kind == "removed":
            self.removed = True


@dataclass
class Connection:
    """One WebSocket of a role, kept up like the pages keep theirs: reconnects with what it holds,
    syncs on a gap, replies to submissions handed to waiters."""

    base: str
    join_code: str
    role: str
    token: str
    model: Model
    connects: int = 0
    syncs: int = 0
    fatal: int | None = None
    ws: object = None
    pending: dict = field(default_factory=dict)  # submission id -> future of the reply
    _stopped: bool = False
    _task: asyncio.Task | None = None
    _check: asyncio.TimerHandle | None = None
    _quiet: asyncio.TimerHandle | None = None
    _hello: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self) -> str:
        query = {"token": self.token}
        held = self.model.held()
        if "seq" in held:
            query["since"] = held["seq"]
        if "answers_seq" in held:
            query["answers_since"] = held["answers_seq"]
        root = self.base.replace("http://", "ws://")
        return f"{root}/ws/sessions/{self.join_code}/{self.role}/?{urlencode(query)}"

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def up(self, timeout: float = 15) -> None:
        await asyncio.wait_for(self._hello.wait(), timeout)

    async def stop(self) -> None:
        self._stopped = True
        for timer in (self._check, self._quiet):
            if timer:
                timer.cancel()
        if self.ws is not None:
            await self.ws.close()
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def drop(self) -> None:
        """Closes the socket as a flaky network would; it comes back by itself with `since`."""
        if self.ws is not None:
            await self.ws.close()

    async def _run(self) -> None:
        while not self._stopped and self.fatal is None:
            try:
                async with websockets.connect(
                    self.url(), origin=self.base, subprotocols=[PROTOCOL], open_timeout=10, ping_interval=None
                ) as ws:
                    self.ws = ws
                    async for raw in ws:
                        self._receive(json.loads(raw))
                    if ws.close_code in FATAL_CLOSE:
                        self.fatal = ws.close_code
            except (TimeoutError, OSError, websockets.WebSocketException):
                pass
            finally:
                self.ws = None
                for waiter in self.pending.values():
                    if not waiter.done():
                        waiter.set_exception(ConnectionError("socket closed"))
                self.pending.clear()
            if not self._stopped and self.fatal is None:
                await asyncio.sleep(random.uniform(0.1, 0.4))

    def _receive(self, message: dict) -> None:
        kind = message["type"]
        if kind == "hello":
            self.connects += 1
            if message.get("state") is not None:
                self.model.document(message["state"])
            self._hello.set()
            return
        if kind == "state":
            self.model.document(message["state"])
            return
        if kind in ("submitted", "error") and message.get("submission_id") in self.pending:
            waiter = self.pending.pop(message["submission_id"])
            if not waiter.done():
                waiter.set_result(message)
            return
        if kind in ("in_sync", "pong", "refused", "error", "submitted"):
            return
        verdict = self.model.event(message)
        if verdict == "sync":
            self.sync()
        elif verdict == "check":
            self._later("_check", CHECK_SECONDS, self._check_behind)
        if kind == "tallies":
            if self._quiet:
                self._quiet.cancel()
            self._quiet = asyncio.get_running_loop().call_later(QUIET_SECONDS, self.sync)

    def _later(self, name: str, seconds: float, callback) -> None:
        if getattr(self, name) is None:
            setattr(self, name, asyncio.get_running_loop().call_later(seconds, callback))

    def _check_behind(self) -> None:
        self._check = None
        if self.model.behind():
            self.sync()

    def sync(self) -> None:
        self._quiet = None
        if self.ws is None:
            return
        self.syncs += 1
        message = {"type": "sync", **self.model.held()}
        asyncio.get_running_loop().create_task(self._send(message))

    async def _send(self, message: dict) -> bool:
        try:
            await self.ws.send(json.dumps(message))
            return True
        except (AttributeError, websockets.WebSocketException):
            return False

    async def submit(self, message: dict, timeout: float = 4.0) -> dict:
        """Sends a submission and waits for its reply; ConnectionError when the socket cannot
        carry it or gives no reply in time (the pages then send it over HTTP)."""
        if self.ws is None:
            raise ConnectionError("no socket")
        waiter = asyncio.get_running_loop().create_future()
        waiter.add_done_callback(
            lambda done: done.cancelled() or done.exception()
        )  # seen, never "unretrieved"
        self.pending[message["submission_id"]] = waiter
        if not await self._send({"type": "submit", **message}):
            self.pending.pop(message["submission_id"], None)
            raise ConnectionError("no socket")
        try:
            return await asyncio.wait_for(waiter, timeout)
        except TimeoutError as exc:
            self.pending.pop(message["submission_id"], None)
            raise ConnectionError("no reply") from exc


def order_maker():
    """The order a page puts on its answers (newOrder in static/peardeck/client.js): microseconds
    of the clock, strictly increasing."""
    last = 0

    def next_order() -> int:
        nonlocal last
        last = max(last + 1, int(time.time() * 1000) * 1000)
        return last

    return next_order
