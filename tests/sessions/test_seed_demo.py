"""The demo `make run` creates: every kind, and a draggable question with a picture to place on."""

import io

import pytest
from django.conf import settings
from django.core.management import call_command

from sessions.management.commands.seed_demo import DEMO_DECK, NUMBER_LINE
from sessions.models import Deck


def seed() -> Deck:
    call_command("seed_demo", stdout=io.StringIO())
    return Deck.objects.get(title=DEMO_DECK)


@pytest.mark.django_db
def test_the_demos_draggable_question_has_a_number_line_to_place_the_point_on():
    draggable = seed().questions.get(kind="draggable")
    assert draggable.config["image_url"] == NUMBER_LINE
    served = settings.BASE_DIR / "static" / NUMBER_LINE.removeprefix("/static/")
    assert served.read_text().startswith("<svg")


@pytest.mark.django_db
def test_a_demo_deck_made_before_the_number_line_gets_it_on_the_next_run():
    draggable = seed().questions.get(kind="draggable")
    draggable.config = {"image_url": ""}
    draggable.save()
    assert seed().questions.get(kind="draggable").config["image_url"] == NUMBER_LINE
