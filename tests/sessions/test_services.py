import pytest

from domain.errors import DomainError
from sessions import services
from sessions.joincodes import ALPHABET, normalize_join_code
from sessions.models import Session


def test_join_codes_use_six_unambiguous_characters(teacher, deck):
    codes = {services.create_session(teacher=teacher, deck=deck)[0].join_code for _ in range(30)}
    assert len(codes) == 30
    for code in codes:
        assert len(code) == 6
        assert not set(code) & set("0O1IL")
        assert set(code) <= set(ALPHABET)


def test_join_codes_are_case_insensitive_and_forgive_spaces():
    assert normalize_join_code(" ab-c 23d ") == "ABC23D"
    assert normalize_join_code("ABC0DE") is None
    assert normalize_join_code("ABCDE") is None


def test_an_ended_session_frees_its_join_code_for_reuse(teacher, deck, monkeypatch):
    first, _ = services.create_session(teacher=teacher, deck=deck)
    draws = iter([first.join_code, first.join_code, "ZZZZZZ"])
    monkeypatch.setattr(services, "new_join_code", lambda: next(draws))
    second, _ = services.create_session(teacher=teacher, deck=deck)
    assert second.join_code == "ZZZZZZ"  # the taken code was drawn again and skipped
    services.end_session(session=first)
    monkeypatch.setattr(services, "new_join_code", lambda: first.join_code)
    third, _ = services.create_session(teacher=teacher, deck=deck)
    assert third.join_code == first.join_code


def test_every_change_bumps_seq(teacher, deck, questions):
    session, _ = services.create_session(teacher=teacher, deck=deck)
    seen = [session.seq]
    for change in (
        lambda s: services.start_session(session=s),
        lambda s: services.step_question(session=s, step=1),
        lambda s: services.lock_question(session=s),
        lambda s: services.reveal_results(session=s),
        lambda s: services.hide_results(session=s),
        lambda s: services.unlock_question(session=s),
        lambda s: services.set_pacing(session=s, pacing="student"),
        lambda s: services.end_session(session=s),
    ):
        change(session)
        session.refresh_from_db()
        seen.append(session.seq)
    assert seen == sorted(set(seen)), seen


def test_a_repeated_lock_is_not_a_change(live_session):
    services.lock_question(session=live_session)
    live_session.refresh_from_db()
    before = live_session.seq
    services.lock_question(session=live_session)
    live_session.refresh_from_db()
    assert live_session.seq == before


def test_moving_past_the_last_question_is_refused(live_session, deck):
    last = deck.questions.order_by("-position").first()
    services.go_to_question(session=live_session, question_id=last.pk)
    with pytest.raises(DomainError) as caught:
        services.step_question(session=live_session, step=1)
    assert caught.value.code == "no_such_move"


def test_a_session_needs_a_deck_with_questions(teacher):
    empty = services.create_deck(owner=teacher, title="Empty")
    with pytest.raises(DomainError) as caught:
        services.create_session(teacher=teacher, deck=empty)
    assert caught.value.code == "deck_empty"


def test_two_students_cannot_share_a_name_but_a_removed_name_is_free(live_session):
    first, _ = services.join_session(join_code=live_session.join_code, display_name="Keesha")
    with pytest.raises(DomainError) as caught:
        services.join_session(join_code=live_session.join_code.lower(), display_name="  keesha ")
    assert caught.value.code == "name_taken"
    services.remove_student(session=live_session, student_id=first.pk)
    again, _ = services.join_session(join_code=live_session.join_code, display_name="Keesha")
    assert again.pk != first.pk


def test_an_ended_session_cannot_be_joined(live_session):
    services.end_session(session=live_session)
    with pytest.raises(DomainError) as caught:
        services.join_session(join_code=live_session.join_code, display_name="Late")
    assert caught.value.code == "session_not_found"


def test_a_deck_that_has_been_run_is_archived_not_deleted(teacher, deck, live_session):
    services.delete_deck(deck=deck)
    deck.refresh_from_db()
    assert deck.archived
    assert Session.objects.filter(pk=live_session.pk).exists()


def test_reordering_must_name_every_question_once(deck):
    ids = list(deck.questions.values_list("id", flat=True))
    services.reorder_questions(deck=deck, question_ids=list(reversed(ids)))
    assert list(deck.questions.order_by("position").values_list("id", flat=True)) == list(reversed(ids))
    with pytest.raises(DomainError):
        services.reorder_questions(deck=deck, question_ids=ids[:-1])
    with pytest.raises(DomainError):
        services.reorder_questions(deck=deck, question_ids=[*ids[:-1], ids[0]])
