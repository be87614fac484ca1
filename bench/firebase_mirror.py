"""Answers per second into Firebase inboxes against Firebase writes per second out of the worker.

Starts the Firebase stand-in (two shards) and `manage.py firebase_worker` as production runs it,
on a fresh PostgreSQL database; fills SESSIONS classes of 30 students; then, for each rate, plays
the students' browsers (writing answers into their inboxes through firebase-admin, one PUT each)
and the teachers (one question change per class every few seconds) for a fixed time, and prints
what came in, what was stored, and how many writes the worker made. SPEC §7: the worker's writes
must follow its flush rate and the number of shards, not the number of answers.

    .venv/bin/python bench/firebase_mirror.py [--sessions 20] [--rates 50,200,800] [--seconds 10]
"""

import argparse
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.firebase_standin.server import StandIn  # noqa: E402
from tests.support.server import free_port, fresh_postgres_database, manage  # noqa: E402

ADMIN_URL = os.environ.get("BENCH_ADMIN_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
SHARDS = ("peardeck-bench-1", "peardeck-bench-2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--rates", default="50,200,800", help="answers per second to offer, comma-separated")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--interval", type=float, default=0.25, help="the worker's flush interval")
    parser.add_argument("--browsers", type=int, default=8, help="threads playing the browsers' writes")
    parser.add_argument(
        "--backlog",
        type=int,
        default=5,
        help="then answers per student written at once (a multi-path write per shard), timed until taken in",
    )
    options = parser.parse_args()

    standin = StandIn(keepalive_seconds=5).start()
    env = {
        **os.environ,
        "DATABASE_URL": fresh_postgres_database(ADMIN_URL, "bench_firebase"),
        "FIREBASE_DATABASE_URLS": ",".join(f"https://{ns}.firebaseio.com" for ns in SHARDS),
        "FIREBASE_DATABASE_EMULATOR_HOST": standin.address,
        "PEARDECK_VAR_DIR": str(ROOT / "var" / "bench"),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    manage("migrate", "--no-input", env=env)
    os.environ.update(
        {key: env[key] for key in ("DATABASE_URL", "FIREBASE_DATABASE_URLS", "PEARDECK_VAR_DIR")}
    )
    os.environ["FIREBASE_DATABASE_EMULATOR_HOST"] = standin.address
    os.environ["DJANGO_SETTINGS_MODULE"] = "peardeck.settings"
    import django

    django.setup()
    from firebase_admin import db

    from integrations import firebase
    from live import services as live_services
    from responses.models import Response, Submission
    from tests.support.classroom import join_students, make_deck, make_teacher, number_questions, open_session

    teacher = make_teacher("bench")
    deck = make_deck(teacher, title="bench", questions=number_questions(*(f"Q{n}" for n in range(40))))
    classes = []
    for _ in range(options.sessions):
        session, _key = open_session(teacher, deck)
        students = [student for student, _token in join_students(session, (f"S{n}" for n in range(30)))]
        classes.append((session, students))
    port = free_port()
    worker = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "firebase_worker",
            "--metrics-port",
            str(port),
            "--interval",
            str(options.interval),
        ],
        cwd=ROOT,
        env=env,
        stdout=open(ROOT / "var" / "bench-firebase-worker.log", "w"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
    )
    app = firebase.app()
    try:
        time.sleep(3)  # the worker relays the joins and starts listening
        print(
            f"{options.sessions} classes x 30 students, {len(SHARDS)} shards, flush every {options.interval}s"
        )
        print("offered: answers/s asked of the browsers; in/s: written into inboxes per second of load;")
        print("drained: seconds until the worker had taken every answer; stored/s over that time;")
        print("refused: answers acknowledged as refused (most: the class had moved on while they waited);")
        print("writes: the worker's Firebase writes (multi-path PATCHes) over that time")
        print(
            f"{'offered':>8} {'in/s':>9} {'drained':>9} {'stored/s':>9} {'refused':>8} {'writes':>8} "
            f"{'writes/s':>9} {'/shard/s':>9} {'ans/write':>10}"
        )
        figures = []
        for rate in [int(rate) for rate in options.rates.split(",")]:
            for session, _students in classes:
                moved = live_services.step_question(session=session, step=1)  # everyone on a fresh question
                session.current_question_id = moved.current_question_id
            time.sleep(1)
            stored_before = Submission.objects.count()
            refused_before = _refused(standin)
            standin.reset_counts()
            started = time.monotonic()
            written = run_load(db, app, classes, rate, options.seconds, live_services, options.browsers)
            load_stopped = time.monotonic()
            # Until the worker has taken (and acknowledged) every answer, or a minute more.
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and any(
                _children(standin.data(namespace, "/inbox"), depth=3) for namespace in SHARDS
            ):
                time.sleep(0.05)
            emptied_after = time.monotonic() - load_stopped
            time.sleep(1)  # the last flush
            elapsed = time.monotonic() - started
            worker_writes = standin.request_counts().get("PATCH", 0)
            stored = Submission.objects.count() - stored_before
            refused = _refused(standin) - refused_before
            print(
                f"{rate:>8} {written / options.seconds:>9.0f} {elapsed:>9.1f} {stored / elapsed:>9.0f} "
                f"{refused:>8} {worker_writes:>8} {worker_writes / elapsed:>9.1f} "
                f"{worker_writes / elapsed / len(SHARDS):>9.1f} "
                f"{written / max(worker_writes, 1):>10.1f}"
            )
            figures.append(
                {
                    "offered_per_s": rate,
                    "written_per_s": round(written / (load_stopped - started), 1),
                    "stored": stored,
                    "refused": refused,
                    "stored_per_s_while_loaded": round(stored / (load_stopped - started + emptied_after), 1),
                    "inbox_empty_after_load_stop_s": round(emptied_after, 2),
                    "worker_writes": worker_writes,
                }
            )
        backlog = {}
        if options.backlog:
            cpu_before = _cpu_seconds(worker.pid)
            backlog = take_in_backlog(db, app, classes, options.backlog, standin, live_services)
            # The worker's own CPU (listeners, ingest, acks, relay), per answer of the backlog.
            backlog["worker_cpu_ms_per_answer"] = round(
                1000 * (_cpu_seconds(worker.pid) - cpu_before) / backlog["answers"], 3
            )
            print(
                f"backlog: {backlog['answers']} answers written at once, taken in and acknowledged in "
                f"{backlog['drained_s']:.2f} s = {backlog['answers_per_s']:.0f} answers/s; "
                f"the worker's CPU {backlog['worker_cpu_ms_per_answer']} ms an answer"
            )
        by_firebase = Response.objects.filter(source="firebase").count()
        print(f"responses stored: {Response.objects.count()}, by firebase: {by_firebase}")
        outcomes = Counter()
        for namespace in SHARDS:
            # Integer-keyed children may come back as lists; either way, walk the leaves.
            for acks in _children(standin.data(namespace, "/acks"), depth=3):
                outcomes[acks.get("code", acks.get("status"))] += 1
            outcomes["still in the inbox"] += len(_children(standin.data(namespace, "/inbox"), depth=3))
        print("acknowledgements:", dict(outcomes))
        print("inbox empty after the load stopped, s:", [f["inbox_empty_after_load_stop_s"] for f in figures])
        result = {"shards": len(SHARDS), "sessions": options.sessions, "rates": figures, "backlog": backlog}
        print("RESULT " + json.dumps(result))
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        standin.stop()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def take_in_backlog(db, app, classes, per_student: int, standin, live_services) -> dict:
    """Every student's `per_student` answers land in the inboxes at once (one multi-path write per
    shard, as a class's burst arrives); returns how long the worker took to take them all in."""
    from integrations import firebase

    for session, _students in classes:
        moved = live_services.step_question(session=session, step=1)
        session.current_question_id = moved.current_question_id
    time.sleep(1)
    by_shard: dict[int, dict] = {}
    for session, students in classes:
        for student in students:
            for n in range(per_student):
                path = f"{session.pk}/student-{student.pk}/{uuid.uuid4().hex}"
                by_shard.setdefault(firebase.shard_of(session.pk), {})[path] = {
                    "question_id": session.current_question_id,
                    "answer": {"value": n},
                    "order": n,
                }
    started = time.monotonic()
    for shard, updates in by_shard.items():
        db.reference("/inbox", app=app, url=f"https://{SHARDS[shard]}.firebaseio.com").update(updates)
    written = time.monotonic()
    deadline = written + 60
    while time.monotonic() < deadline and any(
        _children(standin.data(namespace, "/inbox"), depth=3) for namespace in SHARDS
    ):
        time.sleep(0.02)
    drained = time.monotonic() - started
    answers = sum(len(updates) for updates in by_shard.values())
    return {
        "answers": answers,
        "write_s": round(written - started, 2),
        "drained_s": round(drained, 2),
        "answers_per_s": round(answers / drained, 1),
    }


def _refused(standin) -> int:
    return sum(
        acks.get("status") == "refused"
        for namespace in SHARDS
        for acks in _children(standin.data(namespace, "/acks"), depth=3)
    )


def _children(node, depth: int) -> list:
    """The nodes `depth` levels below `node` (objects or Firebase's list rendering)."""
    if node is None:
        return []
    values = node.values() if isinstance(node, dict) else [child for child in node if child is not None]
    if depth == 0:
        return [node]
    return [leaf for child in values for leaf in _children(child, depth - 1)]


def run_load(db, app, classes, rate: int, seconds: float, live_services, threads: int) -> int:
    """Writes `rate` answers per second spread over every student, and steps each class's question
    every 5 s; returns how many answers were written."""
    from integrations import firebase

    written = 0
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    everyone = [(session, student) for session, students in classes for student in students]
    # The browsers know the current question from the mirror; here the teachers' thread tells them.
    current = {session.pk: session.current_question_id for session, _students in classes}

    def browser(offset: int) -> None:
        nonlocal written
        index = offset
        next_at = time.monotonic()
        while time.monotonic() < stop:
            session, student = everyone[index % len(everyone)]
            ref = db.reference(
                f"/inbox/{session.pk}/student-{student.pk}/{uuid.uuid4().hex}",
                app=app,
                url=f"https://{SHARDS[firebase.shard_of(session.pk)]}.firebaseio.com",
            )
            ref.set({"question_id": current[session.pk], "answer": {"value": index}})
            with lock:
                written += 1
            index += threads
            next_at += threads / rate
            time.sleep(max(0.0, next_at - time.monotonic()))

    def teachers() -> None:
        from django.db import connection

        while time.monotonic() < stop - 5:
            time.sleep(5)
            for session, _students in classes:
                with contextlib.suppress(Exception):  # the last question: stay on it
                    moved = live_services.step_question(session=session, step=1)
                    current[session.pk] = moved.current_question_id
        connection.close()

    workers = [threading.Thread(target=browser, args=(offset,)) for offset in range(threads)]
    workers.append(threading.Thread(target=teachers))
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    return written


if __name__ == "__main__":
    main()
