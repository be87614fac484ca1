"""The school morning burst (SPEC §7): CLASSES classes of STUDENTS students all answer one
multiple-choice question within WINDOW seconds, while every teacher's dashboard is connected.

Starts peardeck as production does (gunicorn + uvicorn workers, PostgreSQL, Redis pub/sub, Firebase
off) on 127.0.0.1 and prepares everything through the public API: teachers sign up, each class gets
a deck with one question, a live session and its students (POST /api/join). Every student's and
teacher's WebSocket is connected, then each student sends one answer at its moment in the window,
over its socket (default) or as POST /api/student/responses on its own keep-alive connection
(--transport http). Recorded: per answer the send and acknowledgement times, per dashboard the
moment its tallies first count every student of its class ("final"). Afterwards the responses
stored in PostgreSQL are compared with what was sent and acknowledged.

Meanwhile the teacher of class 0 locks and unlocks a second question of their session over and
over (a lock takes the session row that the class's answers are being written under): the time
each lock or unlock takes is `lock_p99_ms` (SPEC §7: p99 <= 250 ms while answers pour in).

Target: zero lost answers; every dashboard final within 1 s of the last answer. Everything is
bounded in count and time (--timeout) and targets 127.0.0.1 only.
"""

import argparse
import asyncio
import itertools
import json
import multiprocessing
import os
import random
import resource
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import websockets

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.classroom import (  # noqa: E402
    CHOICES,
    ONE_CHOICE_QUESTION,
    open_class_async,
    sign_up_teacher_async,
)
from tests.support.server import fresh_postgres_database, running_server  # noqa: E402

ADMIN_URL = os.environ.get("BENCH_ADMIN_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
# A Redis database of its own: other benchmarks and the live tests use 0, 3, 5, 7 and 8.
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
PROTOCOL = "peardeck.v1"
CONNECT_WAVE = 100  # sockets opened at once, so the server's accept queue keeps up


@dataclass
class Student:
    token: str
    submission_id: str
    choice: int
    ws: object = None
    stream: tuple | None = None  # (reader, writer) of the keep-alive HTTP connection
    due: float = 0.0
    sent: float | None = None
    acked: float | None = None
    refusal: str | None = None


@dataclass
class Classroom:
    number: int
    teacher_token: str
    session_id: int
    join_code: str
    question_id: int
    students: list[Student] = field(default_factory=list)
    dashboard: object = None
    hello_answered: int | None = None
    tally_events: int = 0
    final_at: float | None = None  # when the dashboard first counted every student's answer
    dashboard_error: str | None = None
    lock_question_id: int | None = None  # class 0: the question its teacher locks and unlocks


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, from /proc (clock ticks of 1/100 s)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def worker_pids(master_pid: int) -> list[int]:
    return [int(pid) for pid in Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()]


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs since boot."""
    numbers = [int(n) for n in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = numbers[3] + numbers[4]
    return sum(numbers) - idle, sum(numbers)


def raise_file_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        if target < needed:
            sys.exit(f"need {needed} file descriptors, the hard limit is {hard}")


# --- preparation, all through the public API -----------------------------------------------------


async def prepare(http: httpx.AsyncClient, classes: int, students: int, teachers: int) -> list[Classroom]:
    accounts = [await sign_up_teacher_async(http, username=f"burst{n}") for n in range(teachers)]

    async def open_class(number: int) -> Classroom:
        live = await open_class_async(
            http,
            teacher=accounts[number % teachers],
            title=f"burst {number}",
            questions=ONE_CHOICE_QUESTION * (2 if number == 0 else 1),
            students=[f"s{n}" for n in range(students)],
        )
        question = live.questions[0]
        classroom = Classroom(number, live.teacher.token, live.session_id, live.join_code, question["id"])
        if number == 0:
            classroom.lock_question_id = live.questions[1]["id"]
        for n, joined in enumerate(live.joined.values()):
            current = joined["state"].get("question") or {}
            if current.get("id") != question["id"]:
                raise RuntimeError(f"class {number}: a joining student is not on the question: {joined}")
            classroom.students.append(
                Student(joined["token"], f"burst-{number}-{n}", random.randrange(len(CHOICES)))
            )
        return classroom

    rooms: list[Classroom] = []
    for start in range(0, classes, 10):  # ten classes fill at a time
        rooms += await asyncio.gather(*(open_class(n) for n in range(start, min(classes, start + 10))))
    return rooms


async def connect_sockets(ws_base: str, origin: str, rooms: list[Classroom], students_too: bool) -> None:
    def dial(path: str, token: str):
        return websockets.connect(
            f"{ws_base}{path}",
            origin=origin,
            subprotocols=[PROTOCOL, f"token.{token}"],
            compression=None,
            open_timeout=60,
            ping_interval=None,
            max_queue=256,
        )

    async def open_student(room: Classroom, student: Student) -> None:
        student.ws = await dial(f"/ws/sessions/{room.join_code}/student/", student.token)
        hello = json.loads(await asyncio.wait_for(student.ws.recv(), 30))
        if hello["type"] != "hello":
            raise RuntimeError(f"a student socket of class {room.number} said {hello}")

    async def open_teacher(room: Classroom) -> None:
        room.dashboard = await dial(f"/ws/sessions/{room.join_code}/teacher/", room.teacher_token)
        hello = json.loads(await asyncio.wait_for(room.dashboard.recv(), 30))
        if hello["type"] != "hello":
            raise RuntimeError(f"the dashboard of class {room.number} said {hello}")
        tally = next(t for t in hello["state"]["tallies"] if t["question_id"] == room.question_id)
        room.hello_answered = tally["answered"]

    openings = [open_teacher(room) for room in rooms]
    if students_too:
        openings += [open_student(room, student) for room in rooms for student in room.students]
    for start in range(0, len(openings), CONNECT_WAVE):
        await asyncio.gather(*openings[start : start + CONNECT_WAVE])


async def open_http_connections(host: str, port: int, rooms: list[Classroom]) -> None:
    """One keep-alive connection per student, as each browser would have after loading the page."""

    async def open_one(student: Student) -> None:
        student.stream = await asyncio.open_connection(host, port)

    everyone = [student for room in rooms for student in room.students]
    for start in range(0, len(everyone), CONNECT_WAVE):
        await asyncio.gather(*(open_one(s) for s in everyone[start : start + CONNECT_WAVE]))


# --- the burst -----------------------------------------------------------------------------------


async def watch_dashboard(room: Classroom, expected: int, until: float) -> None:
    """Reads the teacher's socket until its tallies count every answer or time runs out."""
    while time.perf_counter() < until:
        try:
            raw = await asyncio.wait_for(room.dashboard.recv(), max(0.01, until - time.perf_counter()))
        except TimeoutError:
            return
        except websockets.ConnectionClosed as closed:
            room.dashboard_error = f"closed {closed.rcvd.code if closed.rcvd else '?'}"
            return
        arrived = time.perf_counter()
        message = json.loads(raw)
        if message["type"] != "tallies":
            continue
        room.tally_events += 1
        for tally in message["tallies"]:
            if (
                tally["question_id"] == room.question_id
                and tally["answered"] == expected
                and sum(tally["counts"]) == expected
            ):
                room.final_at = arrived
                return


async def answer_over_socket(room: Classroom, student: Student, until: float) -> None:
    await asyncio.sleep(max(0.0, student.due - time.perf_counter()))
    message = {
        "type": "submit",
        "question_id": room.question_id,
        "submission_id": student.submission_id,
        "answer": {"choices": [student.choice]},
    }
    student.sent = time.perf_counter()
    await student.ws.send(json.dumps(message))
    while time.perf_counter() < until:
        try:
            raw = await asyncio.wait_for(student.ws.recv(), max(0.01, until - time.perf_counter()))
        except TimeoutError:
            student.refusal = "no_ack_within_settle"
            return
        except websockets.ConnectionClosed as closed:
            student.refusal = f"socket_closed_{closed.rcvd.code if closed.rcvd else 'unknown'}"
            return
        reply = json.loads(raw)
        if reply.get("submission_id") != student.submission_id:
            continue
        if reply["type"] == "submitted":
            student.acked = time.perf_counter()
        else:
            student.refusal = reply.get("code", reply["type"])
        return


async def answer_over_http(room: Classroom, student: Student, host: str, until: float) -> None:
    await asyncio.sleep(max(0.0, student.due - time.perf_counter()))
    body = json.dumps(
        {
            "question_id": room.question_id,
            "submission_id": student.submission_id,
            "answer": {"choices": [student.choice]},
        }
    ).encode()
    request = (
        f"POST /api/student/responses HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {student.token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    reader, writer = student.stream
    student.sent = time.perf_counter()
    writer.write(request)
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), max(0.01, until - time.perf_counter()))
    except TimeoutError:
        student.refusal = "no_ack_in_time"
        return
    except (asyncio.IncompleteReadError, ConnectionError):
        student.refusal = "connection_closed"
        return
    status = int(head.split(b" ", 2)[1])
    length = next(
        (
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    try:
        payload = await asyncio.wait_for(reader.readexactly(length), max(0.01, until - time.perf_counter()))
    except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
        student.refusal = "body_not_read"
        return
    if status == 201:
        student.acked = time.perf_counter()
    else:
        try:
            student.refusal = f"{status} {json.loads(payload).get('code', '')}".strip()
        except ValueError:
            student.refusal = str(status)


def lock_and_unlock(
    base: str, token: str, session_id: int, question_id: int, go, start, stop, results
) -> None:
    """In a process of its own (this one's event loop is busy with 3,000 sockets and would delay
    the replies it times): once `go` is set, the teacher locks and unlocks `question_id` from
    wall-clock time `start.value` until `stop` is set, and puts the latencies in ms on `results`."""
    latencies: list[float] = []
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=f"{base}/api", headers=headers, timeout=30) as http:
        go.wait(120)
        time.sleep(max(0.0, start.value - time.time()))
        for action in itertools.cycle(("lock", "unlock")):
            if stop.is_set():
                break
            began = time.perf_counter()
            response = http.post(f"/sessions/{session_id}/{action}", json={"question_id": question_id})
            if response.status_code != 200:
                raise RuntimeError(f"{action} answered {response.status_code}: {response.text}")
            latencies.append((time.perf_counter() - began) * 1000)
            time.sleep(0.05)
    results.put(latencies)


def stored_submissions(database_url: str, session_ids: list[int]) -> tuple[set[str], float | None]:
    """Submission ids of the responses stored for these sessions, and the span between the first
    and the last stored response as PostgreSQL's own clock saw it."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT submission_id FROM responses_response WHERE session_id = ANY(%s)", [session_ids]
        ).fetchall()
        span = conn.execute(
            "SELECT extract(epoch FROM max(created_at) - min(created_at)) FROM responses_response "
            "WHERE session_id = ANY(%s)",
            [session_ids],
        ).fetchone()[0]
    return {row[0] for row in rows}, float(span) if span is not None else None


async def run(base: str, master_pid: int, database_url: str, options: argparse.Namespace) -> None:
    host_port = base.removeprefix("http://")
    host, port = host_port.split(":")
    async with httpx.AsyncClient(base_url=f"{base}/api", timeout=30) as http:
        started = time.perf_counter()
        rooms = await prepare(http, options.classes, options.students, options.teachers)
        print(
            f"prepared {len(rooms)} classes x {options.students} students "
            f"in {time.perf_counter() - started:.1f} s"
        )
    over_socket = options.transport == "ws"
    started = time.perf_counter()
    await connect_sockets(base.replace("http://", "ws://"), base, rooms, students_too=over_socket)
    if not over_socket:
        await open_http_connections(host, int(port), rooms)
    students = [student for room in rooms for student in room.students]
    print(
        f"connected {len(rooms)} dashboards and {len(students)} student "
        f"{'sockets' if over_socket else 'HTTP connections'} in {time.perf_counter() - started:.1f} s"
    )
    not_empty = [room.number for room in rooms if room.hello_answered != 0]
    if not_empty:
        raise RuntimeError(f"dashboards of classes {not_empty} started with answers already counted")
    # The teacher who locks during the burst, in a process of its own, ready before the window.
    spawn = multiprocessing.get_context("spawn")
    go_locking, stop_locking, lock_results = spawn.Event(), spawn.Event(), spawn.Queue()
    lock_start = spawn.Value("d", 0.0)
    locker = spawn.Process(
        target=lock_and_unlock,
        args=(str(base), rooms[0].teacher_token, rooms[0].session_id, rooms[0].lock_question_id),
        kwargs={"go": go_locking, "start": lock_start, "stop": stop_locking, "results": lock_results},
    )
    locker.start()
    # Let join events and hellos settle; the machine's load meanwhile is other work's, not ours.
    workers = worker_pids(master_pid)
    idle_before, idle_workers = machine_busy(), sum(cpu_seconds(pid) for pid in workers)
    await asyncio.sleep(2)
    idle_after, idle_workers = machine_busy(), sum(cpu_seconds(pid) for pid in workers) - idle_workers
    background = (idle_after[0] - idle_before[0]) / max(1, idle_after[1] - idle_before[1])

    # Every student gets its own moment, evenly spaced over the window in a shuffled order, so the
    # offered rate is flat and every class answers throughout the window.
    order = list(students)
    random.shuffle(order)
    cpu_before = {pid: cpu_seconds(pid) for pid in workers}
    client_before = time.process_time()
    busy_before = machine_busy()
    t0 = time.perf_counter() + 0.5
    for index, student in enumerate(order):
        student.due = t0 + options.window * index / len(order)
    until = t0 + options.window + options.settle
    if over_socket:
        answering = [answer_over_socket(room, s, until) for room in rooms for s in room.students]
    else:
        answering = [answer_over_http(room, s, host_port, until) for room in rooms for s in room.students]
    watching = [watch_dashboard(room, options.students, until) for room in rooms]
    lock_start.value = time.time() + (t0 - time.perf_counter())
    go_locking.set()
    await asyncio.gather(*answering, *watching)
    ended = time.perf_counter()
    stop_locking.set()
    lock_latencies: list[float] = await asyncio.to_thread(lock_results.get, True, 60)
    locker.join(10)
    cpu_after = {pid: cpu_seconds(pid) for pid in workers}
    client_cpu = time.process_time() - client_before
    busy_after = machine_busy()

    for room in rooms:
        await room.dashboard.close()
    for student in students:
        if student.ws is not None:
            await student.ws.close()
        if student.stream is not None:
            student.stream[1].close()
    stored, stored_span = stored_submissions(database_url, [room.session_id for room in rooms])
    figures = report(rooms, students, stored, stored_span, options, t0)
    server_cpu = sum(cpu_after[pid] - cpu_before[pid] for pid in workers)
    busy = (busy_after[0] - busy_before[0]) / max(1, busy_after[1] - busy_before[1])
    print(
        f"CPU from the window's opening until every ack and dashboard was in ({ended - t0:.2f} s): "
        f"machine {busy:.0%} busy of {os.cpu_count()} cores; "
        f"web workers {server_cpu:.1f} s, this client {client_cpu:.1f} s, "
        "PostgreSQL, Redis and other work the rest"
    )
    print(
        f"before the window, 2 s with every socket idle: machine {background:.0%} busy "
        f"(web workers {idle_workers:.1f} s CPU of it; the rest is other work on this machine)"
    )
    lock_p99 = percentile(lock_latencies, 0.99) if lock_latencies else None
    if lock_latencies:
        print(
            f"teacher's lock/unlock while answers arrived: {len(lock_latencies)} requests, "
            f"p50 {percentile(lock_latencies, 0.5):.0f} ms, p99 {lock_p99:.0f} ms, "
            f"max {max(lock_latencies):.0f} ms [p99 <= 250 ms]"
        )
    figures.update(
        web_workers_cpu_s=round(server_cpu, 2),
        web_cpu_ms_per_answer=round(1000 * server_cpu / max(1, figures["acked"]), 2),
        machine_busy=round(busy, 2),
        machine_busy_before=round(background, 2),
        lock_p99_ms=round(lock_p99, 1) if lock_p99 is not None else None,
    )
    return figures


def report(
    rooms: list[Classroom],
    students: list[Student],
    stored: set[str],
    stored_span: float | None,
    options: argparse.Namespace,
    t0: float,
) -> dict:
    """Prints the human table; returns the figures for the RESULT line."""
    sent = [s for s in students if s.sent is not None]
    acked = [s for s in students if s.acked is not None]
    refused = Counter(s.refusal for s in students if s.refusal)
    acked_not_stored = [s for s in acked if s.submission_id not in stored]
    sent_not_acked = [s for s in sent if s.acked is None]
    lost = len(acked_not_stored) + len([s for s in sent_not_acked if s.submission_id not in stored])
    print(f"\ntransport={options.transport} window={options.window:.2f} s workers={options.workers}")
    print(
        f"answers offered {len(students)}, sent {len(sent)}, acked {len(acked)}, "
        f"stored {len(stored)}, lost {lost} "
        f"(acked but not stored {len(acked_not_stored)}, sent but not acked {len(sent_not_acked)})"
    )
    if refused:
        print(
            "not acked, by server error code or client-side reason: "
            + ", ".join(f"{code} {n}" for code, n in refused.most_common())
        )
    figures = {
        "transport": options.transport,
        "classes": len(rooms),
        "students": options.students,
        "window_s": options.window,
        "offered": len(students),
        "sent": len(sent),
        "acked": len(acked),
        "stored": len(stored),
        "lost": lost,
    }
    late = [s.sent - s.due for s in sent]
    print(
        f"send lateness against schedule: p99 {percentile(late, 0.99) * 1000:.0f} ms, "
        f"max {max(late) * 1000:.0f} ms"
    )
    if not acked:
        return figures
    first_send = min(s.sent for s in sent)
    last_ack = max(s.acked for s in acked)
    latencies = [(s.acked - s.sent) * 1000 for s in acked]
    print(
        f"first send to last ack {last_ack - first_send:.2f} s; "
        f"ack latency p50 {percentile(latencies, 0.5):.0f} ms, "
        f"p99 {percentile(latencies, 0.99):.0f} ms, max {max(latencies):.0f} ms"
    )
    figures["ack_p50_ms"] = round(percentile(latencies, 0.5))
    figures["ack_p99_ms"] = round(percentile(latencies, 0.99))
    figures["last_ack_after_window_end_s"] = round(last_ack - (t0 + options.window), 2)
    figures["acks_per_s"] = round(len(acked) / (last_ack - first_send), 1)
    span = f"{len(stored) / stored_span:.0f} answers/s" if stored_span else "n/a"
    print(
        f"throughput: {len(acked) / (last_ack - first_send):.0f} acks/s as the client saw them; "
        f"stored {span} between the first and last stored response (PostgreSQL's clock)"
    )
    finals = [room for room in rooms if room.final_at is not None]
    figures["dashboards_final"] = len(finals)
    # SPEC §7: each dashboard final within 1 s of its class's last answer being *sent*.
    after_send = [
        room.final_at - max(s.sent for s in room.students if s.sent is not None)
        for room in finals
        if any(s.sent is not None for s in room.students)
    ]
    if after_send:
        p50, p99, most = percentile(after_send, 0.5), percentile(after_send, 0.99), max(after_send)
        figures["final_after_class_last_send_p50_s"] = round(p50, 2)
        figures["final_after_class_last_send_p99_s"] = round(p99, 2)
        figures["final_after_class_last_send_max_s"] = round(most, 2)
        last_final = max(room.final_at for room in finals)
        figures["last_final_after_window_end_s"] = round(last_final - (t0 + options.window), 2)
        print(
            f"final after the class's last answer was sent: "
            f"p50 {p50:.2f} s, p99 {p99:.2f} s, max {most:.2f} s"
        )
    after_class: list[float] = []
    after_global: list[float] = []
    for room in finals:
        class_last_ack = max((s.acked for s in room.students if s.acked), default=None)
        if class_last_ack is not None:
            after_class.append((room.final_at - class_last_ack) * 1000)
        after_global.append((room.final_at - last_ack) * 1000)
    print(
        f"dashboards final {len(finals)} of {len(rooms)}"
        + (
            f" (not final: {', '.join(str(r.number) for r in rooms if r.final_at is None)})"
            if len(finals) < len(rooms)
            else ""
        )
    )
    if after_class:
        within = sum(1 for lag in after_class if lag <= 1000)
        print(
            f"final after the class's last ack: p50 {percentile(after_class, 0.5):.0f} ms, "
            f"p99 {percentile(after_class, 0.99):.0f} ms, max {max(after_class):.0f} ms; "
            f"within 1 s: {within} of {len(rooms)} ({within / len(rooms):.0%})"
        )
        print(
            f"final after the last ack of all: p50 {percentile(after_global, 0.5):.0f} ms, "
            f"max {max(after_global):.0f} ms; last dashboard final "
            f"{max(r.final_at for r in finals) - t0:.2f} s after the window opened"
        )
    events = [room.tally_events for room in rooms]
    print(f"tally events per dashboard: median {percentile(events, 0.5)}, max {max(events)}")
    errors = Counter(room.dashboard_error for room in rooms if room.dashboard_error)
    if errors:
        print("dashboard errors: " + ", ".join(f"{e} {n}" for e, n in errors.items()))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--students", type=int, default=30, help="per class")
    parser.add_argument("--teachers", type=int, default=10, help="accounts the classes are shared among")
    parser.add_argument("--window", type=float, default=1.0, help="seconds over which answers are spread")
    parser.add_argument("--transport", choices=["ws", "http"], default="ws")
    parser.add_argument(
        "--settle", type=float, default=60.0, help="seconds after the window to wait for acks"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=180.0, help="the whole run, once the server is up")
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args()
    random.seed(options.seed)
    options.teachers = max(1, min(options.teachers, options.classes))
    raise_file_limit(options.classes * (options.students + 1) + 1024)

    database_url = fresh_postgres_database(ADMIN_URL, "bench_burst")
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "CHANNEL_LAYER": "pubsub",
        "FIREBASE_DATABASE_URLS": "",
        "RATE_LIMIT_JOIN": "1000000",
        "RATE_LIMIT_JOIN_CODE": "1000000",
        "RATE_LIMIT_LOGIN": "1000000",
    }
    with tempfile.TemporaryDirectory() as tmp:
        env["PEARDECK_VAR_DIR"] = tmp
        log_path = Path(tmp) / "gunicorn.log"
        with running_server(env, workers=options.workers, log_path=log_path) as base:
            try:
                figures = asyncio.run(
                    asyncio.wait_for(run(base, base.process.pid, database_url, options), options.timeout)
                )
            except TimeoutError:
                sys.exit(f"the run did not finish within {options.timeout:.0f} s")
            finally:
                problems = [
                    line
                    for line in log_path.read_text(errors="replace").splitlines()
                    if "Traceback" in line or " ERROR " in line or "[ERROR]" in line
                ]
                if problems:
                    print(f"server log: {len(problems)} error lines, first: {problems[0]}")
    figures["load_average"] = os.getloadavg()[0]
    print("RESULT " + json.dumps(figures))


if __name__ == "__main__":
    main()
