"""The process of an answer writer killed (SIGKILL) between a batch and its commit: nothing it
acknowledged is lost, and the clients' retries with the same submission_id count once."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from live import services as live_services
from responses.models import Response, Submission
from responses.services import submit_response

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("runs in the PostgreSQL pass (TEST_DATABASE_URL): a second process on the same database")


def test_a_writer_killed_before_its_commit_loses_nothing_it_acknowledged_and_retries_count_once(
    live_session, questions
):
    question = questions["multiple_choice"]
    students = [
        live_services.join_session(join_code=live_session.join_code, display_name=f"Student {n}")[0]
        for n in range(12)
    ]
    settings = connection.settings_dict
    login = settings["USER"] + (f":{settings['PASSWORD']}" if settings.get("PASSWORD") else "")
    url = f"postgres://{login}@{settings['HOST']}:{settings['PORT']}/{settings['NAME']}"
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": "", "DJANGO_SETTINGS_MODULE": "peardeck.settings"}
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.responses.writer_child",
            str(live_session.pk),
            str(question.pk),
            *(str(student.pk) for student in students),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    acked: set[str] = set()
    try:
        deadline = time.monotonic() + 60
        for line in child.stdout:
            if line.startswith("ACKED "):
                acked.add(line.split()[2])
            if line.startswith("HOLDING") or time.monotonic() > deadline:
                break
        else:
            pytest.fail(f"the child ended early: {child.stderr.read()}")
        # Its second batch is written and not committed: the process dies now.
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
    assert len(acked) == 6
    stored = set(Submission.objects.values_list("submission_id", flat=True))
    assert stored == acked, "an acknowledged answer was lost, or an unacknowledged one stored"

    # Every client that saw no acknowledgement sends again, and so do some that did.
    retries = [
        submit_response(
            student=student,
            question_id=question.pk,
            submission_id=f"kill-{student.pk}",
            answer={"choices": [1]},
            source="http",
        )
        for student in students
    ]
    assert [retry.duplicate for retry in retries] == [f"kill-{s.pk}" in acked for s in students]
    assert Submission.objects.count() == len(students)
    assert Response.objects.filter(question=question).count() == len(students)
    assert set(Response.objects.values_list("version", flat=True)) == {1}
    live_session.refresh_from_db()
    assert live_session.answers_seq == len(students)
