"""A process whose answer writer is killed between a batch and its commit (test_intake_killed.py).

Run as `python -m tests.responses.writer_child SESSION_ID QUESTION_ID STUDENT_ID...` with
DATABASE_URL naming the test database. It submits the first half of the students' answers and
prints `ACKED <student> <submission_id>` for each acknowledgement; then it submits the second
half, and the writer, its statements run, prints `HOLDING` and sleeps instead of committing,
until the test kills the process.
"""

import os
import sys
import threading
import time


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peardeck.settings")
    import django

    django.setup()
    from django.db import connections

    from responses import intake
    from responses.services import submit_response
    from sessions.models import Student

    _session_id, question_id, *student_ids = (int(arg) for arg in sys.argv[1:])
    students = list(Student.objects.filter(pk__in=student_ids).order_by("pk"))
    connections.close_all()
    first, second = students[: len(students) // 2], students[len(students) // 2 :]
    holding = threading.Event()
    printing = threading.Lock()

    def say(line: str) -> None:
        with printing:  # one whole line at a time, whichever thread says it
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    original = intake._write_once

    def write_then_hold(batch):
        outcome = original(batch)
        if holding.is_set():
            say("HOLDING")
            time.sleep(600)  # the transaction stays open: killed before it commits
        return outcome

    intake._write_once = write_then_hold

    def answer(student):
        submission_id = f"kill-{student.pk}"
        submit_response(
            student=student,
            question_id=question_id,
            submission_id=submission_id,
            answer={"choices": [1]},
            source="http",
        )
        say(f"ACKED {student.pk} {submission_id}")

    def wave(group):
        threads = [threading.Thread(target=answer, args=(student,)) for student in group]
        for thread in threads:
            thread.start()
        return threads

    for thread in wave(first):
        thread.join()
    holding.set()
    wave(second)
    time.sleep(600)


if __name__ == "__main__":
    main()
