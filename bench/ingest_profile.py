"""Where the time of one Firebase inbox answer goes: queries, database time and Python time.

On a fresh PostgreSQL database, fills SESSIONS classes of 30 students on a number question, then
ingests every student's answer through mirror.services.ingest_inbox_entry (the worker's step),
twice: a first answer (a new response) and a changed one (the response updated). For each pass
it prints per answer the wall time, this process's CPU time, the queries (CaptureQueriesContext)
and the time spent waiting on the database (an execute wrapper); with --profile, the top
functions of a cProfile of the pass. With --threads N the passes are ingested by N threads, students
partitioned among them as the worker does.

    .venv/bin/python bench/ingest_profile.py [--sessions 10] [--threads 1] [--profile]
"""

import argparse
import cProfile
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
    """An execute wrapper summing the seconds spent inside cursor.execute, over every thread."""

    def __init__(self):
        self.seconds = 0.0
        self.lock = threading.Lock()

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            with self.lock:
                self.seconds += time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--profile", action="store_true")
    options = parser.parse_args()

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
    from django.test.utils import CaptureQueriesContext

    from integrations import firebase
    from mirror.services import InboxEntry, ingest_inbox_entry
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
        database = DatabaseTime()
        queries = Counter()
        acks = Counter()
        profiler = cProfile.Profile() if options.profile else None

        def ingest(part, database=database, queries=queries, acks=acks):
            with connection.execute_wrapper(database):
                for entry in part:
                    connection.queries_log.clear()  # it keeps 9000, and captures count positions in it
                    with CaptureQueriesContext(connection) as captured:
                        acks[ingest_inbox_entry(entry)["status"]] += 1
                    with database.lock:
                        queries.update(query["sql"].split()[0].upper() for query in captured)
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
        print(f"\n{label}: {count} answers in {elapsed:.2f} s = {count / elapsed:.0f}/s, {dict(acks)}")
        print(f"  per answer: wall {1000 * elapsed / count:.2f} ms, CPU {1000 * cpu / count:.2f} ms")
        print(
            f"  queries per answer {sum(queries.values()) / count:.1f}: "
            + ", ".join(f"{verb} {n / count:.1f}" for verb, n in queries.most_common())
        )
        print(f"  in cursor.execute per answer {1000 * database.seconds / count:.2f} ms (all threads)")
        if profiler is not None:
            stats = pstats.Stats(profiler)
            stats.sort_stats("cumulative").print_stats(30)
            stats.sort_stats("tottime").print_stats(20)
    time.sleep(1)  # the last coalesced broadcasts, before the interpreter goes


if __name__ == "__main__":
    main()
