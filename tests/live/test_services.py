"""The running class through its services: join codes drawn, seq bumped on every change, the
teacher's question switches, students joining and leaving."""

import pytest

from domain.errors import DomainError
from live import services as live_services
from sessions import services
from sessions.joincodes import ALPHABET


def test_join_codes_use_six_unambiguous_characters(teacher, deck):
    codes = {live_services.create_session(teacher=teacher, deck=deck)[0].join_code for _ in range(30)}
    assert len(codes) == 30
    for code in codes:
        assert len(code) == 6
        assert not set(code) & set("0O1IL")
        assert set(code) <= set(ALPHABET)


def test_an_ended_session_frees_its_join_code_for_reuse(teacher, deck, monkeypatch):
    first, _ = live_services.create_session(teacher=teacher, deck=deck)
    draws = iter([first.join_code, first.join_code, "ZZZZZZ"])
    monkeypatch.setattr(live_services, "new_join_code", lambda: next(draws))
    second, _ = live_services.create_session(teacher=teacher, deck=deck)
    assert second.join_code == "ZZZZZZ"  # the taken code was drawn again and skipped
    live_services.end_session(session=first)
    monkeypatch.setattr(live_services, "new_join_code", lambda: first.join_code)
    third, _ = live_services.create_session(teacher=teacher, deck=deck)
    assert third.join_code == first.join_code


def test_every_change_bumps_seq(teacher, deck, questions):
    session, _ = live_services.create_session(teacher=teacher, deck=deck)
    seen = [session.seq]
    for change in (
        lambda s: live_services.start_session(session=s),
        lambda s: live_services.step_question(session=s, step=1),
        lambda s: live_services.flag_question(session=s, action="lock"),
        lambda s: live_services.flag_question(session=s, action="reveal"),
        lambda s: live_services.flag_question(session=s, action="hide"),
        lambda s: live_services.flag_question(session=s, action="unlock"),
        lambda s: live_services.set_pacing(session=s, pacing="student"),
        lambda s: live_services.end_session(session=s),
    ):
        change(session)
        session.refresh_from_db()
        seen.append(session.seq)
    assert seen == sorted(set(seen)), seen


def test_a_repeated_lock_is_not_a_change(live_session):
    live_services.flag_question(session=live_session, action="lock")
    live_session.refresh_from_db()
    before = live_session.seq
    live_services.flag_question(session=live_session, action="lock")
    live_session.refresh_from_db()
    assert live_session.seq == before


def test_moving_past_the_last_question_is_refused(live_session, deck):
    last = deck.questions.order_by("-position").first()
    live_services.go_to_question(session=live_session, question_id=last.pk)
    with pytest.raises(DomainError) as caught:
        live_services.step_question(session=live_session, step=1)
    assert caught.value.code == "no_such_move"


def test_a_session_needs_a_deck_with_questions(teacher):
    empty = services.create_deck(owner=teacher, title="Empty")
    with pytest.raises(DomainError) as caught:
        live_services.create_session(teacher=teacher, deck=empty)
    assert caught.value.code == "deck_empty"


def test_two_students_cannot_share_a_name_but_a_removed_name_is_free(live_session):
    first, _ = live_services.join_session(join_code=live_session.join_code, display_name="Keesha")
    with pytest.raises(DomainError) as caught:
        live_services.join_session(join_code=live_session.join_code.lower(), display_name="  keesha ")
    assert caught.value.code == "name_taken"
    live_services.remove_student(session=live_session, student_id=first.pk)
    again, _ = live_services.join_session(join_code=live_session.join_code, display_name="Keesha")
    assert again.pk != first.pk


def test_an_ended_session_cannot_be_joined(live_session):
    live_services.end_session(session=live_session)
    with pytest.raises(DomainError) as caught:
        live_services.join_session(join_code=live_session.join_code, display_name="Late")
    assert caught.value.code == "session_not_found"
