"""Ended sessions leave Firebase FIREBASE_RETENTION_HOURS after they end (mirror.services and the
worker's once-a-minute step)."""

from datetime import timedelta

from django.utils import timezone

from live import services as live_services
from mirror import services
from mirror.models import ClearedSession, OutboxEntry
from sessions.models import Session
from tests.mirror.conftest import namespace_of
from tests.support.classroom import open_session


def _mirrored_session(teacher, deck, standin, *, ended_hours_ago: float | None):
    """A session mirrored with its document, one acknowledgement and one leftover inbox entry;
    ended that long ago (None: still live)."""
    session, _key = open_session(teacher, deck)
    if ended_hours_ago is not None:
        session = live_services.end_session(session=session)
        Session.objects.filter(pk=session.pk).update(
            ended_at=timezone.now() - timedelta(hours=ended_hours_ago)
        )
    services.relay_outbox()
    namespace = namespace_of(session.pk)
    standin.seed(namespace, f"/acks/{session.pk}/student-1/s1", {"status": "stored", "version": 1})
    standin.seed(
        namespace, f"/inbox/{session.pk}/student-1/s2", {"question_id": 1, "answer": {"text": "late"}}
    )
    return session


def _left_in_firebase(standin, session) -> dict:
    namespace = namespace_of(session.pk)
    return {
        tree: standin.data(namespace, f"/{tree}/{session.pk}") is not None
        for tree in ("sessions", "acks", "inbox")
    }


def test_a_session_that_ended_long_enough_ago_leaves_firebase_and_the_others_stay(
    firebase_settings, firebase_standin, teacher, deck
):
    firebase_settings.FIREBASE_RETENTION_HOURS = 24
    old = _mirrored_session(teacher, deck, firebase_standin, ended_hours_ago=25)
    recent = _mirrored_session(teacher, deck, firebase_standin, ended_hours_ago=2)
    live = _mirrored_session(teacher, deck, firebase_standin, ended_hours_ago=None)
    firebase_standin.reset_counts()

    outcome = services.clear_ended_sessions()

    assert outcome.sessions == 1 and not outcome.failures
    assert outcome.writes == firebase_standin.write_count() == 1  # one multi-path write on its shard
    assert _left_in_firebase(firebase_standin, old) == {"sessions": False, "acks": False, "inbox": False}
    for kept in (recent, live):
        assert _left_in_firebase(firebase_standin, kept) == {"sessions": True, "acks": True, "inbox": True}
    assert list(ClearedSession.objects.values_list("session_id", flat=True)) == [old.pk]

    again = services.clear_ended_sessions()
    assert again.sessions == again.writes == 0  # noted as cleared: never written again


def test_a_session_with_changes_still_in_the_outbox_waits_for_the_relay(
    firebase_settings, firebase_standin, teacher, deck
):
    firebase_settings.FIREBASE_RETENTION_HOURS = 1
    session = _mirrored_session(teacher, deck, firebase_standin, ended_hours_ago=3)
    OutboxEntry.objects.create(session_id=session.pk, seq=session.seq)  # not relayed yet
    assert services.clear_ended_sessions().sessions == 0
    services.relay_outbox()
    assert services.clear_ended_sessions().sessions == 1
    assert _left_in_firebase(firebase_standin, session)["sessions"] is False


def test_a_shard_that_is_down_keeps_its_sessions_for_a_later_round(
    firebase_settings, firebase_standin, teacher, deck
):
    firebase_settings.FIREBASE_RETENTION_HOURS = 1
    session = _mirrored_session(teacher, deck, firebase_standin, ended_hours_ago=3)
    firebase_standin.go_down("refuse")
    outcome = services.clear_ended_sessions()
    assert outcome.sessions == 0 and list(outcome.failures)
    assert not ClearedSession.objects.exists()
    firebase_standin.come_up()
    assert services.clear_ended_sessions().sessions == 1
    assert _left_in_firebase(firebase_standin, session) == {"sessions": False, "acks": False, "inbox": False}


def test_the_worker_clears_once_per_interval(firebase_settings, firebase_standin, teacher, deck, worker):
    firebase_settings.FIREBASE_RETENTION_HOURS = 1
    first = _mirrored_session(teacher, deck, firebase_standin, ended_hours_ago=3)
    assert worker.tick().cleared_sessions == 1
    second = _mirrored_session(teacher, deck, firebase_standin, ended_hours_ago=3)
    assert worker.tick().cleared_sessions == 0  # within the minute
    worker._next_clear = 0.0  # the minute has passed
    assert worker.tick().cleared_sessions == 1
    assert set(ClearedSession.objects.values_list("session_id", flat=True)) == {first.pk, second.pk}
