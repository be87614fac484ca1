"""Where the time of one answer goes: statements, database time and Python time.

On a fresh PostgreSQL database, fills SESSIONS classes of 30 students on a number question, then
takes in every student's answer through mirror.services.ingest_inbox_entry (the Firebase intake,
which goes through submit_response like every transport), twice: a first answer (a new response)
and a changed one (the response updated). For each pass it prints per answer the wall time, this
process's CPU time, the SQL statements run on every connection (the answer writer's included),
the time spent inside cursor.execute, and the writer's batches; with --profile, the top functions
of a cProfile of the pass. With --threads N the answers come from N threads at once (as from N
requests), students partitioned among them; with --worker every answer of a pass is handed to
the writer at once, as the Firebase worker's tick does (mirror.services.ingest_inbox_entries, in
ticks of at most 1,000). Ends with `RESULT {json}`.

    .venv/bin/python bench/ingest_profile.py [--sessions 10] [--threads 1 | --worker] [--profile]
"""

import argparse
import cProfile
import json
import os
import pstats
import sys
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.server import fresh_postgres_database, manage  # noqa: E402

ADMIN_URL = os.environ.get("BENCH_ADMIN_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")


class DatabaseTime:
    """An execute wrapper, installed on every connection as it is made, summing the statements
    (by their first word) and the seconds spent inside cursor.execute over every thread."""

    def __init__(self):
        self.seconds = 0.0
        self.statements = Counter()
        self.lock = threading.Lock()

    def reset(self):
        with self.lock:
            self.seconds = 0.0
            self.statements = Counter()

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            with self.lock:
                self.seconds += time.perf_counter() - started
                self.statements[sql.split()[0].upper()] += 1


class Batches:
    """Wraps the answer writer's batch function: how many batches, of what size, how long."""

    def __init__(self, intake):
        self.sizes: list[int] = []
        self.seconds: list[float] = []
        original = intake.write

        def write(batch):
            started = time.perf_counter()
            try:
                return original(batch)
            finally:
                self.sizes.append(len(batch))
                self.seconds.append(time.perf_counter() - started)

        intake.write = write

    def reset(self):
        self.sizes, self.seconds = [], []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--worker", action="store_true", help="as the Firebase worker: a tick at a time")
    parser.add_argument("--switch-interval", type=float, default=None)
    options = parser.parse_args()
    if options.switch_interval:
        sys.setswitchinterval(options.switch_interval)

    env = {
        **os.environ,
        "DATABASE_URL": fresh_postgres_database(ADMIN_URL, "bench_ingest"),
        "FIREBASE_DATABASE_URLS": "",
        "PEARDECK_VAR_DIR": str(ROOT / "var" / "bench"),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    manage("migrate", "--no-input", env=env)
    os.environ.update(
        {key: env[key] for key in ("DATABASE_URL", "FIREBASE_DATABASE_URLS", "PEARDECK_VAR_DIR")}
    )
    os.environ["DJANGO_SETTINGS_MODULE"] = "peardeck.settings"
    import django

    django.setup()
    from django.db import connection
    from django.db.backends.signals import connection_created

    from integrations import firebase
    from mirror.services import InboxEntry, ingest_inbox_entries, ingest_inbox_entry
    from responses import intake
    from tests.support.classroom import join_students, make_deck, make_teacher, number_questions, open_session

    teacher = make_teacher("bench")
    deck = make_deck(teacher, title="bench", questions=number_questions("Q"))
    question = deck.questions.get()
    everyone = []
    for _ in range(options.sessions):
        session, _key = open_session(teacher, deck)
        for student, _token in join_students(session, (f"S{n}" for n in range(30))):
            everyone.append((session.pk, student.pk))
    print(f"{len(everyone)} students in {options.sessions} classes, {options.threads} thread(s)")
    connection.close()

    database = DatabaseTime()

    def count_on(sender, connection, **kwargs):
        if database not in connection.execute_wrappers:  # a pooled wrapper connects again
            connection.execute_wrappers.append(database)

    connection_created.connect(count_on, weak=False)
    connection.close()  # the next one is made with the wrapper
    batches = Batches(intake)
    figures = {"threads": options.threads, "worker": options.worker, "answers": len(everyone)}
    for label, value in (("first answers (insert)", 1), ("changed answers (update)", 2)):
        entries = [
            InboxEntry(
                session_id,
                firebase.student_uid(student_id),
                f"p{value}-{student_id}",
                {
                    "question_id": question.pk,
                    "answer": {"value": value},
                },
            )
            for session_id, student_id in everyone
        ]
        database.reset()
        batches.reset()
        acks = Counter()
        profiler = cProfile.Profile() if options.profile else None

        def ingest(part, acks=acks):
            if options.worker:
                for start in range(0, len(part), 1000):
                    acks.update(ack["status"] for ack in ingest_inbox_entries(part[start : start + 1000]))
            else:
                for entry in part:
                    acks[ingest_inbox_entry(entry)["status"]] += 1
            connection.close()

        parts = [[] for _ in range(options.threads)]
        for entry in entries:
            parts[hash(entry.uid) % options.threads].append(entry)
        started = time.perf_counter()
        cpu_started = time.process_time()
        if profiler is not None:
            profiler.enable()
        if options.threads == 1:
            ingest(parts[0])
        else:
            threads = [threading.Thread(target=ingest, args=(part,)) for part in parts]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        if profiler is not None:
            profiler.disable()
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        count = len(entries)
        statements = sum(database.statements.values())
        print(f"\n{label}: {count} answers in {elapsed:.2f} s = {count / elapsed:.0f}/s, {dict(acks)}")
        print(f"  per answer: wall {1000 * elapsed / count:.2f} ms, CPU {1000 * cpu / count:.2f} ms")
        print(
            f"  statements per answer {statements / count:.2f}: "
            + ", ".join(f"{verb} {n / count:.2f}" for verb, n in database.statements.most_common())
        )
        print(f"  in cursor.execute per answer {1000 * database.seconds / count:.2f} ms (all threads)")
        if batches.sizes:
            print(
                f"  writer: {len(batches.sizes)} batches, {count / len(batches.sizes):.1f} answers each, "
                f"{1000 * sum(batches.seconds) / len(batches.sizes):.1f} ms each, "
                f"{statements / len(batches.sizes):.1f} statements each"
            )
        key = "insert" if value == 1 else "update"
        figures[f"{key}_answers_per_s"] = round(count / elapsed, 1)
        figures[f"{key}_cpu_ms_per_answer"] = round(1000 * cpu / count, 3)
        figures[f"{key}_statements_per_answer"] = round(statements / count, 3)
        figures[f"{key}_batches"] = len(batches.sizes)
        figures[f"{key}_statements_per_batch"] = round(statements / max(1, len(batches.sizes)), 2)
        if profiler is not None:
            stats = pstats.Stats(profiler)
            stats.sort_stats("cumulative").print_stats(30)
            stats.sort_stats("tottime").print_stats(20)
    time.sleep(1)  # the last coalesced broadcasts, before the interpreter goes
    print("RESULT " + json.dumps(figures))


if __name__ == "__main__":
    main()
