"""Authoring: decks and questions, and join codes."""

import pytest

from domain.errors import DomainError
from sessions import services
from sessions.joincodes import normalize_join_code
from sessions.models import Session


def test_join_codes_are_case_insensitive_and_forgive_spaces():
    assert normalize_join_code(" ab-c 23d ") == "ABC23D"
    assert normalize_join_code("ABC0DE") is None
    assert normalize_join_code("ABCDE") is None


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
