"""Faults while classes answer: does any acknowledged answer get lost, and how soon is everyone right?

Starts the whole system on 127.0.0.1 with services of its own: a private PostgreSQL cluster
(initdb/pg_ctl in a temporary directory, on a free port; the shared server is never touched), a
TCP proxy of ours between the app and that PostgreSQL (it can add latency), a Redis server, the
Firebase stand-in (tests/firebase_standin) as a process, gunicorn as production runs it
(tests/support/server.py) and a `manage.py firebase_worker` process.

For each fault, fresh classes of students answer one question over and over (each student changes
their answer every few seconds), a third of them over HTTP, a third over their WebSocket and a
third through their Firebase inbox; the fault strikes a few seconds in. Clients behave as the pages
do: an answer keeps its submission_id until it is acknowledged; HTTP retries with backoff; a socket
reconnects and resends; a Firebase answer is written to the inbox (retried while Firebase is away)
and, with no acknowledgement after 4 s, also sent over HTTP (student.js does the same). Each
student sends its next answer only once the last one was acknowledged (or refused).

Faults: a web worker SIGKILLed (gunicorn starts another), PostgreSQL restarted (immediate stop:
a crash, then recovery), Redis restarted, the Firebase stand-in down (connections refused), the
Firebase worker SIGKILLed (started again 3 s later, as Kubernetes would), and 200 ms added to every
round trip between the app and PostgreSQL (100 ms each way, in the proxy).

For each: answers offered, acknowledged (stored or refused), stored, acknowledged but lost (must be
0), duplicates (counted twice: a response's version beyond its distinct stored submissions), and the
seconds from the end of the fault until every client converged: every answer acknowledged, the
database holding each student's last answer, and each teacher's tallies counting every student who
answered. Students stop offering new answers when the fault ends (--after to go on longer); a
killed process's fault ends when its replacement runs (gunicorn's new worker; the Firebase worker
started again). Everything is bounded in count and time and only ever targets 127.0.0.1. The last line is
`RESULT {json}`.

    bench/faults                      # every fault, 3 classes x 30 students
    bench/faults --short              # the form the test suite runs: fewer students and faults
    bench/faults --faults pg-restart,firebase-down --classes 2 --students 12
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import websockets

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.firebase_standin.credentials import write_service_account  # noqa: E402
from tests.support.server import free_port, running_server  # noqa: E402


def _postgres_bin() -> Path:
    """PG_BIN, or the newest PostgreSQL server installed the Debian way."""
    if os.environ.get("PG_BIN"):
        return Path(os.environ["PG_BIN"])
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _postgres_bin()
PG_USER = "postgres"  # initdb refuses to run as root; the cluster's files belong to this account
NAMESPACE = "peardeck-faults"
PROTOCOL = "peardeck.v1"
CHOICES = ["a", "b", "c", "d"]
TRANSPORTS = ("http", "ws", "firebase")
FAULTS = (
    "web-worker-kill",
    "pg-restart",
    "redis-restart",
    "firebase-down",
    "firebase-worker-kill",
    "pg-latency",
)
SHORT_FAULTS = ("web-worker-kill", "pg-restart", "firebase-down", "firebase-worker-kill")
ACK_TIMEOUT = 5.0  # seconds a client waits for one try's acknowledgement
FIREBASE_FALLBACK = 4.0  # seconds without an inbox acknowledgement before the page also uses HTTP


# --- services of our own ----------------------------------------------------------------------------


def _as_postgres_user():
    import pwd

    account = pwd.getpwnam(PG_USER)

    def demote() -> None:
        os.setgid(account.pw_gid)
        os.setuid(account.pw_uid)

    return demote if os.geteuid() == 0 else None


class PrivatePostgres:
    """A PostgreSQL cluster in a temporary directory, on a free port, for this run alone."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.data = directory / "data"
        self.port = free_port()
        self.log = directory / "postgres.log"
        directory.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(directory, PG_USER)
        self._run(PG_BIN / "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-N")

    def _run(self, *argv, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(a) for a in argv],
            preexec_fn=_as_postgres_user(),
            capture_output=True,
            text=True,
            timeout=120,
            check=check,
            cwd=self.directory,
        )

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory} "
            "-c max_connections=200 -c fsync=on -c synchronous_commit=on"
        )
        self._run(
            PG_BIN / "pg_ctl", "-D", self.data, "-l", self.log, "-o", options, "-w", "-t", "60", "start"
        )

    def stop(self, mode: str = "fast") -> None:
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "60", "stop", check=False)


class Redis:
    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for_port(self.port, 10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


class DelayProxy:
    """Our TCP proxy between the app and PostgreSQL, as a process of its own (the load generator
    would otherwise add its own delays); SIGUSR1 adds the latency, SIGUSR2 takes it away."""

    def __init__(self, target_port: int, one_way_seconds: float) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--delay-proxy",
                str(self.port),
                str(target_port),
                str(one_way_seconds),
            ],
            cwd=ROOT,
        )
        _wait_for_port(self.port, 10)

    def delay(self, on: bool) -> None:
        self.process.send_signal(signal.SIGUSR1 if on else signal.SIGUSR2)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def serve_delay_proxy(listen_port: int, target_port: int, one_way: float) -> None:
    state = {"delay": 0.0}
    signal.signal(signal.SIGUSR1, lambda *_: state.update(delay=one_way))
    signal.signal(signal.SIGUSR2, lambda *_: state.update(delay=0.0))

    async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Chunks keep their order; each leaves `delay` after it arrived.
        queue: asyncio.Queue = asyncio.Queue()

        async def read() -> None:
            while chunk := await reader.read(65536):
                queue.put_nowait((time.monotonic() + state["delay"], chunk))
            queue.put_nowait((0.0, b""))

        reading = asyncio.ensure_future(read())
        try:
            while True:
                due, chunk = await queue.get()
                if not chunk:
                    break
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            reading.cancel()
            with contextlib.suppress(Exception):
                writer.close()

    async def handle(client_reader, client_writer) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", target_port)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(
            pump(client_reader, upstream_writer), pump(upstream_reader, client_writer), return_exceptions=True
        )

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", listen_port)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


class FirebaseStandIn:
    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.log = open(directory / "standin.log", "w")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.firebase_standin", "--port", str(self.port), "--keepalive", "5"],
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        _wait_for_port(self.port, 15)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def down(self, seconds: float) -> None:
        httpx.post(
            f"http://{self.address}/.standin/down", json={"mode": "refuse", "seconds": seconds}, timeout=5
        )

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        self.log.close()


class FirebaseWorker:
    def __init__(self, env: dict, log_path: Path) -> None:
        self.env, self.log_path, self.process = env, log_path, None

    def start(self) -> None:
        log = open(self.log_path, "a")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "firebase_worker", "--metrics-port", "0"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def _wait_for_port(port: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {seconds} s")


def gunicorn_workers(master_pid: int) -> list[int]:
    return [int(pid) for pid in Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()]


# --- the classes ------------------------------------------------------------------------------------


@dataclass
class Answer:
    submission_id: str
    choice: int
    offered_at: float
    acked_at: float | None = None
    outcome: str | None = None  # "stored" or the refusal's code
    via: str | None = None


@dataclass
class Student:
    number: int
    transport: str
    token: str
    firebase: dict | None
    answers: list[Answer] = field(default_factory=list)
    ws: object = None


@dataclass
class Classroom:
    number: int
    session_id: int
    join_code: str
    question_id: int
    teacher: dict
    students: list[Student] = field(default_factory=list)
    acks: dict = field(default_factory=dict)  # the class's Firebase acks, as last polled


class Fleet:
    """Every client of one fault's classes, and what each saw."""

    def __init__(self, base: str, standin: str, prefix: str, rng: random.Random) -> None:
        self.base, self.standin, self.prefix, self.rng = base, standin, prefix, rng
        self.http = httpx.AsyncClient(base_url=f"{base}/api", timeout=ACK_TIMEOUT)
        self.firebase_http = httpx.AsyncClient(base_url=f"http://{standin}", timeout=ACK_TIMEOUT)
        self.rooms: list[Classroom] = []
        self.offering = True

    async def prepare(self, classes: int, students: int, teacher_token: str) -> None:
        teacher = {"Authorization": f"Bearer {teacher_token}"}
        for number in range(classes):
            deck = (
                await self.http.post("/decks", json={"title": f"{self.prefix} {number}"}, headers=teacher)
            ).json()
            question = (
                await self.http.post(
                    f"/decks/{deck['id']}/questions",
                    json={"kind": "multiple_choice", "prompt": "?", "config": {"choices": CHOICES}},
                    headers=teacher,
                )
            ).json()
            session = (
                await self.http.post("/sessions", json={"deck_id": deck["id"]}, headers=teacher)
            ).json()
            (await self.http.post(f"/sessions/{session['id']}/start", headers=teacher)).raise_for_status()
            room = Classroom(number, session["id"], session["join_code"], question["id"], teacher)
            for index in range(students):
                joined = await self.http.post(
                    "/join", json={"join_code": session["join_code"], "display_name": f"s{index}"}
                )
                joined.raise_for_status()
                state = joined.json()
                room.students.append(
                    Student(index, TRANSPORTS[index % 3], state["token"], state.get("firebase"))
                )
            self.rooms.append(room)

    # One student's life: answer, wait for the acknowledgement, think, answer again.
    async def student(self, room: Classroom, student: Student, deadline: float) -> None:
        await asyncio.sleep(self.rng.uniform(0, 2))
        count = 0
        while self.offering and time.monotonic() < deadline:
            count += 1
            answer = Answer(
                f"{self.prefix}-{room.number}-{student.number}-{count}",
                self.rng.randrange(len(CHOICES)),
                time.monotonic(),
            )
            student.answers.append(answer)
            await self.deliver(room, student, answer, deadline)
            await asyncio.sleep(self.rng.uniform(1.5, 3.0))
        if student.ws is not None:
            with contextlib.suppress(Exception):
                await student.ws.close()

    async def deliver(self, room: Classroom, student: Student, answer: Answer, deadline: float) -> None:
        backoff = 0.25
        firebase_written = False
        firebase_since: float | None = None
        while answer.outcome is None and time.monotonic() < deadline:
            if student.transport == "http":
                await self.over_http(student, room, answer)
            elif student.transport == "ws":
                await self.over_socket(student, room, answer)
                if answer.outcome is None:
                    # A page whose socket is down polls and sends its answers over HTTP.
                    await self.over_http(student, room, answer)
            else:
                if not firebase_written:
                    firebase_written = await self.into_inbox(student, room, answer)
                    firebase_since = time.monotonic() if firebase_written else firebase_since
                await self.await_firebase_ack(room, student, answer, FIREBASE_FALLBACK)
                if answer.outcome is None and (
                    firebase_since is None or time.monotonic() - firebase_since >= FIREBASE_FALLBACK
                ):
                    await self.over_http(student, room, answer)
            if answer.outcome is None:
                await asyncio.sleep(backoff * self.rng.uniform(0.5, 1.0))
                backoff = min(4.0, backoff * 2)

    def _done(self, answer: Answer, outcome: str, via: str) -> None:
        if answer.outcome is None:
            answer.outcome, answer.via, answer.acked_at = outcome, via, time.monotonic()

    async def over_http(self, student: Student, room: Classroom, answer: Answer) -> None:
        try:
            reply = await self.http.post(
                "/student/responses",
                json={
                    "question_id": room.question_id,
                    "submission_id": answer.submission_id,
                    "answer": {"choices": [answer.choice]},
                },
                headers={"Authorization": f"Bearer {student.token}"},
            )
        except httpx.HTTPError:
            return
        if reply.status_code in (200, 201):
            self._done(answer, "stored", "http")
        elif 400 <= reply.status_code < 500 and reply.status_code != 429:
            self._done(answer, reply.json().get("error", {}).get("code", str(reply.status_code)), "http")

    async def over_socket(self, student: Student, room: Classroom, answer: Answer) -> None:
        try:
            if student.ws is None:
                student.ws = await websockets.connect(
                    f"{self.base.replace('http://', 'ws://')}/ws/sessions/{room.join_code}/student/",
                    origin=self.base,
                    subprotocols=[PROTOCOL, f"token.{student.token}"],
                    open_timeout=ACK_TIMEOUT,
                    ping_interval=None,
                    compression=None,
                )
                hello = json.loads(await asyncio.wait_for(student.ws.recv(), ACK_TIMEOUT))
                if hello.get("type") != "hello":
                    raise ConnectionError(hello)
            await student.ws.send(
                json.dumps(
                    {
                        "type": "submit",
                        "question_id": room.question_id,
                        "submission_id": answer.submission_id,
                        "answer": {"choices": [answer.choice]},
                    }
                )
            )
            until = time.monotonic() + ACK_TIMEOUT
            while time.monotonic() < until:
                reply = json.loads(
                    await asyncio.wait_for(student.ws.recv(), max(0.01, until - time.monotonic()))
                )
                if reply.get("submission_id") != answer.submission_id:
                    continue
                if reply["type"] == "submitted":
                    self._done(answer, "stored", "ws")
                elif reply.get("code") not in ("unavailable", "internal_error"):
                    self._done(answer, reply.get("code", reply["type"]), "ws")
                return
        except (OSError, TimeoutError, websockets.WebSocketException, ConnectionError, json.JSONDecodeError):
            pass
        # No acknowledgement: this socket is no good; the next try opens another.
        if student.ws is not None:
            with contextlib.suppress(Exception):
                await student.ws.close()
            student.ws = None

    def _firebase(self, student: Student) -> tuple[str, str]:
        url = student.firebase["config"]["databaseURL"]
        return url.split("//", 1)[1].split(".", 1)[0], student.firebase["paths"]["inbox"]

    async def into_inbox(self, student: Student, room: Classroom, answer: Answer) -> bool:
        namespace, inbox = self._firebase(student)
        try:
            reply = await self.firebase_http.put(
                f"{inbox}/{answer.submission_id}.json",
                params={"ns": namespace},
                json={"question_id": room.question_id, "answer": {"choices": [answer.choice]}},
                headers={"Authorization": "Bearer owner"},
            )
        except httpx.HTTPError:
            return False
        return reply.status_code == 200

    async def await_firebase_ack(
        self, room: Classroom, student: Student, answer: Answer, seconds: float
    ) -> None:
        uid = student.firebase["uid"]
        until = time.monotonic() + seconds
        while answer.outcome is None and time.monotonic() < until:
            ack = room.acks.get(uid, {}).get(answer.submission_id) if isinstance(room.acks, dict) else None
            if ack:
                self._done(
                    answer,
                    "stored" if ack.get("status") == "stored" else ack.get("code", "refused"),
                    "firebase",
                )
                return
            await asyncio.sleep(0.1)

    async def poll_acks(self, room: Classroom, until: float) -> None:
        """The students' ack listeners, folded into one read of the class's acks a few times a second."""
        some = next((s for s in room.students if s.firebase), None)
        if some is None:
            return
        namespace, _ = self._firebase(some)
        acks_path = some.firebase["paths"]["acks"].rsplit("/", 1)[0]
        while time.monotonic() < until:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                reply = await self.firebase_http.get(
                    f"{acks_path}.json", params={"ns": namespace}, headers={"Authorization": "Bearer owner"}
                )
                if reply.status_code == 200:
                    room.acks = reply.json() or {}
            await asyncio.sleep(0.25)


# --- one fault --------------------------------------------------------------------------------------


@dataclass
class System:
    base: str
    master_pid: int
    postgres: PrivatePostgres
    proxy: DelayProxy
    redis: Redis
    standin: FirebaseStandIn
    worker: FirebaseWorker
    database_url: str  # straight to PostgreSQL, for the checks
    teacher_token: str


async def inject(fault: str, system: System, hold: float) -> None:
    """Strikes, holds the fault for `hold` seconds where it lasts, and lifts it."""
    if fault == "web-worker-kill":
        before = gunicorn_workers(system.master_pid)
        victim = random.choice(before)
        os.kill(victim, signal.SIGKILL)
        # The fault lasts until gunicorn has a worker in its place.
        until = time.monotonic() + 30
        while time.monotonic() < until:
            now = gunicorn_workers(system.master_pid)
            if victim not in now and len(now) >= len(before):
                break
            await asyncio.sleep(0.05)
    elif fault == "pg-restart":
        await asyncio.to_thread(system.postgres.stop, "immediate")
        await asyncio.sleep(hold)
        await asyncio.to_thread(system.postgres.start)
    elif fault == "redis-restart":
        system.redis.stop()
        await asyncio.sleep(hold)
        await asyncio.to_thread(system.redis.start)
    elif fault == "firebase-down":
        await asyncio.to_thread(system.standin.down, hold)
        await asyncio.sleep(hold)
    elif fault == "firebase-worker-kill":
        system.worker.kill()
        await asyncio.sleep(3)
        system.worker.start()
    elif fault == "pg-latency":
        system.proxy.delay(True)
        await asyncio.sleep(hold)
        system.proxy.delay(False)
    else:
        raise ValueError(fault)


def check_database(database_url: str, fleet: Fleet) -> dict:
    sessions = [room.session_id for room in fleet.rooms]
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        stored = {
            (row[0], row[1])
            for row in conn.execute(
                "SELECT s.student_id, s.submission_id FROM responses_submission s "
                "JOIN classroom_sessions_student st ON st.id = s.student_id WHERE st.session_id = ANY(%s)",
                [sessions],
            )
        }
        versions, distinct = conn.execute(
            "SELECT coalesce(sum(r.version), 0), "
            "(SELECT count(*) FROM responses_submission s JOIN responses_response a "
            " ON a.student_id = s.student_id AND a.question_id = s.question_id "
            " WHERE a.session_id = ANY(%s)) "
            "FROM responses_response r WHERE r.session_id = ANY(%s)",
            [sessions, sessions],
        ).fetchone()
        latest = dict(
            conn.execute(
                "SELECT st.display_name || '@' || r.session_id, r.submission_id FROM responses_response r "
                "JOIN classroom_sessions_student st ON st.id = r.student_id WHERE r.session_id = ANY(%s)",
                [sessions],
            ).fetchall()
        )
    return {
        "stored": {sid for _student, sid in stored},
        # Answers collapsed in one batch (or superseded) leave the version below the submissions.
        "duplicates": max(0, int(versions) - int(distinct)),
        "latest": latest,
    }


async def converged(fleet: Fleet, database_url: str) -> bool:
    if any(a.outcome is None for room in fleet.rooms for s in room.students for a in s.answers):
        return False
    try:
        seen = await asyncio.to_thread(check_database, database_url, fleet)
    except psycopg.Error:
        return False
    for room in fleet.rooms:
        answered = 0
        for student in room.students:
            last = next((a for a in reversed(student.answers) if a.outcome == "stored"), None)
            if last is None:
                continue
            answered += 1
            if seen["latest"].get(f"s{student.number}@{room.session_id}") != last.submission_id:
                return False
        try:
            tallies = (
                await fleet.http.get(f"/sessions/{room.session_id}/tallies", headers=room.teacher)
            ).json()
        except (httpx.HTTPError, ValueError):
            return False
        tally = next((t for t in tallies.get("tallies", []) if t["question_id"] == room.question_id), None)
        if tally is None or tally["answered"] != answered:
            return False
    return True


async def run_fault(fault: str, system: System, options: argparse.Namespace, rng: random.Random) -> dict:
    fleet = Fleet(system.base, system.standin.address, f"{fault}-{rng.randrange(10**6)}", rng)
    await fleet.prepare(options.classes, options.students, system.teacher_token)
    started = time.monotonic()
    deadline = started + options.warmup + options.hold + options.after + options.settle
    pollers = [asyncio.ensure_future(fleet.poll_acks(room, deadline)) for room in fleet.rooms]
    students = [
        asyncio.ensure_future(fleet.student(room, student, deadline))
        for room in fleet.rooms
        for student in room.students
    ]
    await asyncio.sleep(options.warmup)
    struck = time.monotonic()
    await inject(fault, system, options.hold)
    lifted = time.monotonic()
    await asyncio.sleep(options.after)
    fleet.offering = False
    converged_at = None
    while time.monotonic() < deadline:
        if await converged(fleet, system.database_url):
            converged_at = time.monotonic()
            break
        await asyncio.sleep(0.25)
    for task in students:
        task.cancel()
    for task in pollers:
        task.cancel()
    await asyncio.gather(*students, *pollers, return_exceptions=True)
    await fleet.http.aclose()
    await fleet.firebase_http.aclose()

    seen = await asyncio.to_thread(check_database, system.database_url, fleet)
    answers = [a for room in fleet.rooms for s in room.students for a in s.answers]
    acked = [a for a in answers if a.outcome is not None]
    stored_acks = [a for a in acked if a.outcome == "stored"]
    by_transport = {t: 0 for t in TRANSPORTS}
    for room in fleet.rooms:
        for student in room.students:
            by_transport[student.transport] += len(student.answers)
    return {
        "fault": fault,
        "offered": len(answers),
        "offered_by_transport": by_transport,
        "acked": len(acked),
        "refused": len(acked) - len(stored_acks),
        "acked_via": {t: sum(1 for a in acked if a.via == t) for t in TRANSPORTS},
        "stored": len(seen["stored"] & {a.submission_id for a in answers}),
        "acked_but_lost": sum(1 for a in stored_acks if a.submission_id not in seen["stored"]),
        "duplicates": seen["duplicates"],
        "unacked": len(answers) - len(acked),
        "fault_seconds": round(lifted - struck, 2),
        "converged_seconds": None if converged_at is None else round(converged_at - lifted, 2),
    }


# --- the run --------------------------------------------------------------------------------------


def start_system(tmp: Path, stack: contextlib.ExitStack, options: argparse.Namespace) -> System:
    postgres = PrivatePostgres(tmp / "postgres")
    postgres.start()
    stack.callback(postgres.stop, "immediate")
    proxy = DelayProxy(postgres.port, options.latency / 2)
    stack.callback(proxy.stop)
    redis = Redis()
    redis.start()
    stack.callback(redis.stop)
    standin = FirebaseStandIn(tmp)
    stack.callback(standin.stop)
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute("CREATE DATABASE peardeck")
    direct_url = f"postgres://postgres@127.0.0.1:{postgres.port}/peardeck"
    env = {
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{proxy.port}/peardeck",
        "REDIS_URL": f"redis://127.0.0.1:{redis.port}/0",
        "CHANNEL_LAYER": "pubsub",
        "FIREBASE_DATABASE_URLS": f"https://{NAMESPACE}.firebaseio.com",
        "FIREBASE_DATABASE_EMULATOR_HOST": standin.address,
        "FIREBASE_CREDENTIALS_FILE": str(write_service_account(tmp, NAMESPACE)),
        "RATE_LIMIT_JOIN": "1000000",
        "RATE_LIMIT_JOIN_CODE": "1000000",
        "RATE_LIMIT_LOGIN": "1000000",
        "PEARDECK_VAR_DIR": str(tmp / "var"),
        "DATABASE_POOL_TIMEOUT": "5",
    }
    base = stack.enter_context(running_server(env, workers=options.workers, log_path=tmp / "gunicorn.log"))
    worker_env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE"}} | env
    worker = FirebaseWorker(worker_env, tmp / "firebase-worker.log")
    worker.start()
    stack.callback(worker.kill)
    signup = httpx.post(
        f"{base}/api/auth/signup", json={"username": "faults", "password": "faults-password-2024"}, timeout=30
    )
    signup.raise_for_status()
    return System(
        base,
        base.process.pid,
        postgres,
        proxy,
        redis,
        standin,
        worker,
        direct_url,
        signup.json()["api_token"]["token"],
    )


def print_table(rows: list[dict]) -> None:
    print()
    print(
        f"{'fault':<22}{'offered':>8}{'acked':>7}{'refused':>8}{'stored':>7}"
        f"{'acked-lost':>11}{'dupes':>6}{'unacked':>8}{'fault s':>8}{'converged s':>12}"
    )
    for row in rows:
        converged = "never" if row["converged_seconds"] is None else f"{row['converged_seconds']:.1f}"
        print(
            f"{row['fault']:<22}{row['offered']:>8}{row['acked']:>7}{row['refused']:>8}{row['stored']:>7}"
            f"{row['acked_but_lost']:>11}{row['duplicates']:>6}{row['unacked']:>8}"
            f"{row['fault_seconds']:>8.1f}{converged:>12}"
        )


async def run_all(system: System, options: argparse.Namespace) -> list[dict]:
    rng = random.Random(options.seed)
    rows = []
    for fault in options.faults:
        row = await asyncio.wait_for(run_fault(fault, system, options, rng), options.per_fault_timeout)
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--faults", default=",".join(FAULTS), help=f"comma-separated, of {', '.join(FAULTS)}")
    parser.add_argument(
        "--short", action="store_true", help="the test suite's form: 2 classes x 9, four faults"
    )
    parser.add_argument("--classes", type=int, default=3)
    parser.add_argument("--students", type=int, default=30, help="per class, a third on each transport")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--warmup", type=float, default=4.0, help="seconds of answering before the fault")
    parser.add_argument("--hold", type=float, default=6.0, help="seconds a lasting fault lasts")
    parser.add_argument(
        "--after", type=float, default=0.0, help="seconds the classes go on answering after the fault"
    )
    parser.add_argument("--settle", type=float, default=60.0, help="at most this long to converge")
    parser.add_argument(
        "--latency", type=float, default=0.2, help="seconds added to each PostgreSQL round trip"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--delay-proxy", nargs=3, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.delay_proxy:
        listen, target, one_way = options.delay_proxy
        serve_delay_proxy(int(listen), int(target), float(one_way))
        return
    if options.short:
        options.classes, options.students = 2, 9
        options.warmup, options.hold, options.settle = 3.0, 4.0, 60.0
        if options.faults == ",".join(FAULTS):
            options.faults = ",".join(SHORT_FAULTS)
    options.faults = [f for f in options.faults.split(",") if f]
    unknown = set(options.faults) - set(FAULTS)
    if unknown:
        parser.error(f"unknown faults {sorted(unknown)}")
    options.per_fault_timeout = options.warmup + options.hold + options.after + options.settle + 60
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="peardeck-faults-") as directory, contextlib.ExitStack() as stack:
        tmp = Path(directory)
        os.chmod(tmp, 0o755)
        system = start_system(tmp, stack, options)
        print(
            f"system up in {time.monotonic() - started:.1f} s: "
            f"gunicorn {system.base} ({options.workers} workers), "
            f"PostgreSQL :{system.postgres.port} behind our proxy :{system.proxy.port}, "
            f"Redis :{system.redis.port}, Firebase stand-in {system.standin.address}, firebase_worker",
            flush=True,
        )
        print(
            f"{options.classes} classes x {options.students} students per fault (a third each over HTTP, "
            "WebSocket and Firebase)",
            flush=True,
        )
        try:
            rows = asyncio.run(run_all(system, options))
        finally:
            log = (tmp / "gunicorn.log").read_text(errors="replace")
            if os.environ.get("FAULTS_KEEP_LOGS"):
                keep = Path(os.environ["FAULTS_KEEP_LOGS"])
                keep.mkdir(parents=True, exist_ok=True)
                for name in ("gunicorn.log", "firebase-worker.log", "standin.log", "postgres/postgres.log"):
                    if (tmp / name).exists():
                        shutil.copy(tmp / name, keep / name.replace("/", "-"))
    print_table(rows)
    print(f"server log: {log.count('Traceback')} tracebacks")
    result = {
        "rows": rows,
        "acked_but_lost": sum(r["acked_but_lost"] for r in rows),
        "duplicates": sum(r["duplicates"] for r in rows),
        "all_converged": all(r["converged_seconds"] is not None for r in rows),
        "seconds": round(time.monotonic() - started, 1),
    }
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
