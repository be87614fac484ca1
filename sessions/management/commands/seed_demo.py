"""Creates (once) a demo teacher with an API token and a deck holding one question of each kind."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.services import issue_api_token
from sessions import services
from sessions.models import Deck

DEMO_USERNAME = "demo-teacher"
DEMO_PASSWORD = "pear-demo-2024"
DEMO_DECK = "Demo: one question of each kind"
NUMBER_LINE = "/static/peardeck/number-line.svg"

DEMO_QUESTIONS = [
    {
        "kind": "slide",
        "prompt": "Welcome! Today: fractions.",
        "config": {"body": "Answer on your device as we go."},
    },
    {
        "kind": "multiple_choice",
        "prompt": "Which fraction is the largest?",
        "config": {"choices": ["1/2", "2/3", "3/5", "5/8"], "correct": [1]},
    },
    {
        "kind": "text",
        "prompt": "In one sentence: what does the denominator tell you?",
        "config": {"max_length": 280},
    },
    {"kind": "number", "prompt": "How many eighths make three quarters?", "config": {"min": 0, "max": 100}},
    {
        "kind": "draggable",
        "prompt": "Drag the dot to where 3/4 sits on the number line.",
        "config": {"image_url": NUMBER_LINE},
    },
    {"kind": "drawing", "prompt": "Draw a pizza cut into sixths.", "config": {}},
]


class Command(BaseCommand):
    help = "Creates the demo teacher and deck if they are missing, and prints how to use them."

    @transaction.atomic
    def handle(self, *args, **options):
        users = get_user_model()
        teacher = users.objects.filter(username=DEMO_USERNAME).first()
        if teacher is None:
            teacher = users.objects.create_user(username=DEMO_USERNAME, password=DEMO_PASSWORD)
        deck = Deck.objects.filter(owner=teacher, title=DEMO_DECK, archived=False).first()
        if deck is None:
            deck = services.create_deck(owner=teacher, title=DEMO_DECK)
            for question in DEMO_QUESTIONS:
                services.add_question(deck=deck, **question)
        # Demo decks made before the draggable question had its number line get it now.
        for question in deck.questions.filter(kind="draggable", image_url=""):
            if not question.config.get("image_url") and not question.responses.exists():
                services.update_question(question=question, config={"image_url": NUMBER_LINE})
        _token, plaintext = issue_api_token(user=teacher, name="demo")
        self.stdout.write(
            "\n".join(
                [
                    "",
                    "peardeck demo",
                    f"  teacher:   {DEMO_USERNAME} / {DEMO_PASSWORD}   (log in at /accounts/login/)",
                    f"  API token: {plaintext}",
                    f"  deck:      #{deck.pk} {deck.title!r} with {deck.questions.count()} questions",
                    "  API docs:  /api/docs",
                    "",
                ]
            )
        )
