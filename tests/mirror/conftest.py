import time
from collections.abc import Callable

import pytest
from firebase_admin import db

from integrations import firebase
from mirror.worker import FirebaseWorker
from tests.firebase_standin.fixtures import FIREBASE_TEST_SHARDS


def namespace_of(session_id: int) -> str:
    return FIREBASE_TEST_SHARDS[firebase.shard_of(session_id)]


def inbox_ref(app, session_id: int, student_id: int, submission_id: str):
    """Where a student's browser writes an answer (security rules are tested in tests/firebase_rules)."""
    return db.reference(
        f"/inbox/{session_id}/student-{student_id}/{submission_id}",
        app=app,
        url=f"https://{namespace_of(session_id)}.firebaseio.com",
    )


def drive(worker: FirebaseWorker, until: Callable[[], bool], timeout: float = 15.0) -> None:
    """Ticks the worker on this thread (and so in the test's transaction) until `until()` holds."""
    deadline = time.monotonic() + timeout
    while True:
        worker.tick()
        if until():
            return
        if time.monotonic() > deadline:
            raise AssertionError("the worker never got there")
        time.sleep(0.05)


@pytest.fixture
def worker(firebase_settings):
    made = FirebaseWorker(backoff_base=0.05, backoff_cap=0.5)
    yield made
    made.close()


@pytest.fixture
def published(monkeypatch) -> list[tuple[int, dict]]:
    """Events handed to runtime.broadcast to send (after commit)."""
    from runtime import broadcast

    events: list[tuple[int, dict]] = []
    monkeypatch.setattr(broadcast, "publish", lambda session_id, event: events.append((session_id, event)))
    # Answers are coalesced into a tallies event; build it at once instead of a moment later.
    monkeypatch.setattr(
        broadcast,
        "publish_coalesced",
        lambda changed, build, group=None: events.extend(build(changed).items()),
    )
    return events
