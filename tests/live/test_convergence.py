"""Live state converges (issue 12), played against the server as production runs it: PostgreSQL,
Redis, 2 gunicorn workers.

Several classes answer three questions each. Half the students are on a WebSocket, half on HTTP;
each changes their answer over the other transport, some send an older answer after a newer one
(as a slow socket would), some resend one; teachers lock each question while answers arrive and
one student is removed; sockets are dropped and come back with `since`; in the second question
one web worker is SIGKILLed. Clients keep state by the protocol's rules (tests/support/live_client.py,
the same rules as static/peardeck/client.js). After the dust settles:
- every dashboard's tallies and roster equal the database's;
- every socket that reconnected holds the latest state;
- every stored answer is the student's latest accepted one (by their order);
- nothing acknowledged was lost or counted twice.
"""

import asyncio
import json
import os
import random
import signal
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.support.classroom import CHOICES, open_class_async, sign_up_teacher_async
from tests.support.live_client import QUIET_SECONDS, Connection, Dashboard, StudentView, order_maker
from tests.support.server import fresh_postgres_database, running_server

pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="the convergence test plays production: PostgreSQL and Redis",
    ),
]

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0").rsplit("/", 1)[0] + "/6"
CLASSES = 4
STUDENTS = 8
QUESTIONS = [{"kind": "multiple_choice", "prompt": f"Q{n}", "config": {"choices": CHOICES}} for n in range(3)]
WINDOW = 1.6  # seconds in which a question's answers are sent; the lock falls inside it
KILL_IN_QUESTION = 1
SETTLE = QUIET_SECONDS + 3.0


@dataclass
class Sent:
    student: int
    question_id: int
    submission_id: str
    order: int
    answer: dict
    outcome: str = "unknown"  # stored | duplicate | superseded | refused:<code> | unknown


@dataclass
class Pupil:
    id: int
    name: str
    token: str
    transport: str  # the one they start on: "ws" or "http"
    view: StudentView = field(default_factory=StudentView)
    socket: Connection | None = None
    next_order: object = field(default_factory=order_maker)
    sent: list = field(default_factory=list)
    serial: int = 0


@dataclass
class Room:
    number: int
    teacher: object
    session_id: int
    join_code: str
    question_ids: list
    pupils: list
    dashboard: Connection | None = None


class Play:
    def __init__(self, base: str, http: httpx.AsyncClient):
        self.base = base
        self.http = http
        self.rng = random.Random(12)
        self.killed = False
        self.server = None

    # --- requests that survive a killed worker ----------------------------------------------

    async def request(
        self, method: str, path: str, *, token: str, body=None, deadline: float = 20
    ) -> httpx.Response:
        until = time.monotonic() + deadline
        while True:
            try:
                response = await self.http.request(
                    method, f"/api{path}", json=body, headers={"Authorization": f"Bearer {token}"}
                )
                if response.status_code < 500:
                    return response
            except httpx.TransportError:
                pass
            if time.monotonic() > until:
                raise AssertionError(f"{method} {path} got no answer within {deadline} s")
            await asyncio.sleep(0.2)

    async def teacher_does(self, room: Room, action: str, body=None) -> None:
        response = await self.request(
            "POST", f"/sessions/{room.session_id}/{action}", token=room.teacher.token, body=body
        )
        assert response.status_code == 200, response.text

    # --- answers --------------------------------------------------------------------------------

    def make(self, pupil: Pupil, question_id: int) -> Sent:
        pupil.serial += 1
        return Sent(
            pupil.id,
            question_id,
            f"p{pupil.id}-{pupil.serial}",
            pupil.next_order(),
            {"choices": [self.rng.randrange(len(CHOICES))]},
        )

    async def send(self, pupil: Pupil, sent: Sent, transport: str) -> None:
        """Sends over `transport`; a socket that cannot carry it or does not answer within 4 s
        hands it to HTTP, as the student page does. The outcome is recorded on `sent`."""
        if sent not in pupil.sent:
            pupil.sent.append(sent)
        message = {
            "question_id": sent.question_id,
            "submission_id": sent.submission_id,
            "answer": sent.answer,
            "order": sent.order,
        }
        if transport == "ws" and pupil.socket is not None:
            try:
                reply = await pupil.socket.submit(message)
            except ConnectionError:
                reply = None
            if reply is not None:
                if reply["type"] == "submitted":
                    sent.outcome = self._accepted(reply)
                    pupil.view.own(reply["question_id"], reply["version"], reply["answer"])
                else:
                    sent.outcome = f"refused:{reply['code']}"
                return
        response = await self.request("POST", "/student/responses", token=pupil.token, body=message)
        body = response.json()
        if response.status_code in (200, 201):
            sent.outcome = self._accepted(body)
            pupil.view.own(body["question_id"], body["version"], body["answer"])
        else:
            sent.outcome = f"refused:{body['error']['code']}"

    @staticmethod
    def _accepted(reply: dict) -> str:
        if reply.get("superseded"):
            return "superseded"
        return "duplicate" if reply.get("duplicate") else "stored"

    async def pupil_plays(self, room: Room, pupil: Pupil, question_id: int, pattern: str) -> None:
        other = "http" if pupil.transport == "ws" else "ws"
        await asyncio.sleep(self.rng.uniform(0, WINDOW * 0.6))
        first = self.make(pupil, question_id)
        if pattern == "late":
            # A goes out first on a slow path: B, made after it, overtakes it over HTTP. A must
            # come back superseded and B stay.
            second = self.make(pupil, question_id)
            await self.send(pupil, second, "http")
            await self.send(pupil, first, pupil.transport)
            return
        await self.send(pupil, first, pupil.transport)
        await asyncio.sleep(self.rng.uniform(0.05, 0.5))
        second = self.make(pupil, question_id)
        await self.send(pupil, second, other)
        if pattern == "resend":
            await asyncio.sleep(self.rng.uniform(0, 0.3))
            await self.send(pupil, first, other)  # a retry of the older one after the newer

    # --- the lesson -------------------------------------------------------------------------------

    async def question(self, rooms: list[Room], index: int) -> None:
        if index > 0:
            await asyncio.gather(
                *(
                    self.teacher_does(room, "goto", {"question_id": room.question_ids[index]})
                    for room in rooms
                )
            )
        jobs = []
        patterns = ["change", "late", "resend", "change"]
        for room in rooms:
            question_id = room.question_ids[index]
            for n, pupil in enumerate(room.pupils):
                if pupil.view.removed:
                    continue
                jobs.append(self.pupil_plays(room, pupil, question_id, patterns[(n + index) % len(patterns)]))
            jobs.append(self.lock_later(room, question_id))
            jobs.append(self.drop_some(room))
            if room.number == 0 and index == 0:
                jobs.append(self.remove_later(room, room.pupils[-1]))
        if index == KILL_IN_QUESTION:
            jobs.append(self.kill_a_worker_later())
        await asyncio.gather(*jobs)

    async def lock_later(self, room: Room, question_id: int) -> None:
        await asyncio.sleep(self.rng.uniform(WINDOW * 0.4, WINDOW * 0.9))
        await self.teacher_does(room, "lock", {"question_id": question_id})

    async def remove_later(self, room: Room, pupil: Pupil) -> None:
        await asyncio.sleep(self.rng.uniform(0.2, WINDOW * 0.5))
        response = await self.request(
            "DELETE", f"/sessions/{room.session_id}/students/{pupil.id}", token=room.teacher.token
        )
        assert response.status_code == 204, response.text

    async def drop_some(self, room: Room) -> None:
        """About one socket in ten, and the dashboard, lose their connection mid-question."""
        sockets = [pupil.socket for pupil in room.pupils if pupil.socket is not None]
        dropped = [*self.rng.sample(sockets, max(1, len(sockets) // 10)), room.dashboard]
        for socket in dropped:
            await asyncio.sleep(self.rng.uniform(0, WINDOW / len(dropped)))
            await socket.drop()

    async def kill_a_worker_later(self) -> None:
        await asyncio.sleep(WINDOW * 0.5)
        master = self.server.process.pid
        workers = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        os.kill(int(self.rng.choice(workers)), signal.SIGKILL)
        self.killed = True


async def open_rooms(play: Play) -> list[Room]:
    async def one(number: int) -> Room:
        async with httpx.AsyncClient(base_url=f"{play.base}/api", timeout=30) as http:
            teacher = await sign_up_teacher_async(http)
            live = await open_class_async(
                http,
                teacher=teacher,
                title=f"class {number}",
                questions=QUESTIONS,
                students=[f"s{number}-{n}" for n in range(STUDENTS)],
            )
        pupils = [
            Pupil(joined["student"]["id"], name, joined["token"], "ws" if n % 2 == 0 else "http")
            for n, (name, joined) in enumerate(live.joined.items())
        ]
        return Room(
            number, teacher, live.session_id, live.join_code, [q["id"] for q in live.questions], pupils
        )

    return list(await asyncio.gather(*(one(number) for number in range(CLASSES))))


def database_truth(database_url: str, rooms: list[Room]) -> dict:
    """Per session: the roster {student: removed}, tallies {question: (counts, answered)} over the
    students still in, and every stored answer {(student, question): answer}."""
    truth = {}
    with psycopg.connect(database_url) as conn:
        for room in rooms:
            roster = dict(
                conn.execute(
                    "SELECT id, removed_at IS NOT NULL FROM classroom_sessions_student WHERE session_id = %s",
                    [room.session_id],
                ).fetchall()
            )
            stored = {}
            tallies = {qid: ([0] * len(CHOICES), 0) for qid in room.question_ids}
            for student_id, question_id, answer in conn.execute(
                "SELECT student_id, question_id, answer FROM responses_response WHERE session_id = %s",
                [room.session_id],
            ).fetchall():
                answer = answer if isinstance(answer, dict) else json.loads(answer)
                stored[(student_id, question_id)] = answer
                if not roster[student_id]:
                    counts, answered = tallies[question_id]
                    for choice in answer["choices"]:
                        counts[choice] += 1
                    tallies[question_id] = (counts, answered + 1)
            submissions = conn.execute(
                "SELECT student_id, submission_id, count(*) FROM responses_submission "
                "WHERE student_id = ANY(%s) GROUP BY 1, 2",
                [list(roster)],
            ).fetchall()
            truth[room.session_id] = {
                "roster": roster,
                "tallies": tallies,
                "stored": stored,
                "submissions": {(s, sid): n for s, sid, n in submissions},
            }
    return truth


def test_live_state_converges_across_workers_transports_reconnects_and_a_killed_worker(tmp_path):
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    database_url = fresh_postgres_database(os.environ["DATABASE_URL"], "convergence")
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "PEARDECK_VAR_DIR": str(tmp_path),
        "RATE_LIMIT_JOIN": "10000",
        "RATE_LIMIT_LOGIN": "10000",
    }
    with running_server(env, workers=2, log_path=tmp_path / "gunicorn.log") as base:
        _rooms, failures = asyncio.run(lesson(base, database_url))
    assert not failures, "\n".join(failures)


async def lesson(base: str, database_url: str):
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=base, timeout=10, limits=limits) as http:
        play = Play(base, http)
        play.server = base
        rooms = await open_rooms(play)
        connections = []
        for room in rooms:
            room.dashboard = Connection(base, room.join_code, "teacher", room.teacher.token, Dashboard())
            connections.append(room.dashboard)
            for pupil in room.pupils:
                if pupil.transport == "ws":
                    pupil.socket = Connection(base, room.join_code, "student", pupil.token, pupil.view)
                    connections.append(pupil.socket)
        for connection in connections:
            connection.start()
        await asyncio.gather(*(connection.up() for connection in connections))

        for index in range(len(QUESTIONS)):
            await play.question(rooms, index)
        await asyncio.sleep(SETTLE)
        for connection in connections:
            await connection.stop()
        truth = await asyncio.to_thread(database_truth, database_url, rooms)
        failures = [
            *await check_sockets(play, rooms),
            *check_dashboards(rooms, truth),
            *check_answers(rooms, truth),
            *check_the_play_played(play, rooms, connections),
        ]
        return rooms, failures


def check_the_play_played(play: Play, rooms: list[Room], connections: list[Connection]) -> list[str]:
    """The faults the test is about did happen; else it proves nothing."""
    outcomes = Counter(sent.outcome for room in rooms for pupil in room.pupils for sent in pupil.sent)
    reconnects = sum(max(0, connection.connects - 1) for connection in connections)
    syncs = sum(connection.syncs for connection in connections)
    print(f"outcomes {dict(outcomes)}; sockets reconnected {reconnects} times; syncs {syncs}")
    failures = []
    if not play.killed:
        failures.append("no worker was killed")
    for needed in ("stored", "superseded", "duplicate", "refused:question_locked"):
        if not outcomes[needed]:
            failures.append(f"no answer came back {needed}: the play did not race what it should")
    return failures


def check_dashboards(rooms: list[Room], truth: dict) -> list[str]:
    failures = []
    for room in rooms:
        model: Dashboard = room.dashboard.model
        known = truth[room.session_id]
        if model.roster != known["roster"]:
            failures.append(
                f"class {room.number}: the dashboard's roster {model.roster} != {known['roster']}"
            )
        for question_id, (counts, answered) in known["tallies"].items():
            held = model.tallies.get(question_id, (None, {}))[1]
            if (held.get("counts"), held.get("answered")) != (counts, answered):
                failures.append(
                    f"class {room.number} question {question_id}: the dashboard ended on "
                    f"{held.get('counts')} ({held.get('answered')} answered); "
                    f"the database has {counts} ({answered})"
                )
        for (student_id, question_id), answer in known["stored"].items():
            held = model.responses.get((question_id, student_id))
            if held is None or held[1] != answer:
                failures.append(
                    f"class {room.number}: the dashboard shows {held and held[1]} as student {student_id}'s "
                    f"answer to {question_id}, the database {answer}"
                )
    return failures


async def check_sockets(play: Play, rooms: list[Room]) -> list[str]:
    """Every student socket that came back after a drop or the killed worker holds the state a
    fresh read gives, its own answer included."""
    failures = []
    reconnected = 0
    for room in rooms:
        for pupil in room.pupils:
            if pupil.socket is None or pupil.socket.connects < 2 or pupil.view.removed:
                continue
            reconnected += 1
            fresh = (await play.request("GET", "/student/state", token=pupil.token)).json()
            view = pupil.view
            held = (view.seq, view.state, view.current_question_id, view.locked)
            truth = (fresh["seq"], fresh["state"], fresh["question"]["id"], fresh["locked"])
            if held != truth:
                failures.append(f"student {pupil.id} reconnected and holds {held}; the server says {truth}")
            own = view.answers_given.get(fresh["question"]["id"], (None, None))[1]
            if fresh["answer"] and own != fresh["answer"]["answer"]:
                failures.append(
                    f"student {pupil.id} shows {own} as their answer; the server holds {fresh['answer']}"
                )
    if reconnected == 0:
        failures.append("no student socket reconnected: the test did not test reconnection")
    return failures


def check_answers(rooms: list[Room], truth: dict) -> list[str]:
    failures = []
    for room in rooms:
        known = truth[room.session_id]
        for pupil in room.pupils:
            by_question = defaultdict(list)
            for sent in pupil.sent:
                by_question[sent.question_id].append(sent)
            for question_id, sent in by_question.items():
                unknown = [s for s in sent if s.outcome == "unknown"]
                if unknown:
                    failures.append(f"student {pupil.id}: {len(unknown)} answers never got an outcome")
                accepted = [s for s in sent if s.outcome in ("stored", "duplicate", "superseded")]
                stored = known["stored"].get((pupil.id, question_id))
                if not accepted:
                    if stored is not None:
                        failures.append(
                            f"student {pupil.id}: {stored} stored for {question_id}, "
                            "though every answer was refused"
                        )
                    continue
                latest = max(accepted, key=lambda s: s.order)
                if stored != latest.answer:
                    failures.append(
                        f"student {pupil.id} question {question_id}: stored {stored}, but their latest "
                        f"accepted answer (order {latest.order}) was {latest.answer}; outcomes "
                        f"{[(s.order, s.answer['choices'][0], s.outcome) for s in sent]}"
                    )
                for s in accepted:
                    if known["submissions"].get((pupil.id, s.submission_id), 0) > 1:
                        failures.append(f"submission {s.submission_id} stored twice")
                for s in sent:
                    if s.outcome == "stored" and (pupil.id, s.submission_id) not in known["submissions"]:
                        failures.append(f"submission {s.submission_id} was acknowledged but is not stored")
    return failures
