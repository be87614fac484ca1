import unicodedata

from django.conf import settings
from django.db import models
from django.db.models import Q

from sessions import kinds


def display_name_key(display_name: str) -> str:
    """The form in which two display names are the same name: Unicode's compatibility caseless
    match (NFKC, case folding, NFKC again), so "KATE", "kate" and "\u212aate" (a Kelvin sign) are
    one name, and "Ian" and "\u0130an" (a dotted capital I) are two. Stored beside the name and
    held unique by the constraint, so the check before a join and the constraint cannot disagree
    the way SQL's upper() and lower() did."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", display_name).casefold())


class Deck(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="decks")
    title = models.CharField(max_length=200)
    # A deck that has been run is archived rather than deleted, so past sessions keep their questions.
    archived = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["owner", "archived"])]

    def __str__(self) -> str:
        return self.title


class Question(models.Model):
    KIND_CHOICES = [(kind, kind.replace("_", " ")) for kind in kinds.KINDS]

    deck = models.ForeignKey(Deck, on_delete=models.CASCADE, related_name="questions")
    position = models.PositiveIntegerField()
    kind = models.CharField(max_length=20, choices=KIND_CHOICES)
    prompt = models.TextField(max_length=kinds.MAX_PROMPT_LENGTH)
    image_url = models.CharField(max_length=kinds.MAX_IMAGE_URL_LENGTH, blank=True, default="")
    # Shape depends on kind; always written through sessions.kinds.clean_config.
    config = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]
        indexes = [models.Index(fields=["deck", "position"])]

    def __str__(self) -> str:
        return f"{self.position}. {self.prompt[:40]}"


class Session(models.Model):
    """A live run of a deck. `seq` grows by one with every change a client must see."""

    WAITING, LIVE, ENDED = "waiting", "live", "ended"
    STATE_CHOICES = [(WAITING, "waiting"), (LIVE, "live"), (ENDED, "ended")]
    INSTRUCTOR, STUDENT = "instructor", "student"
    PACING_CHOICES = [(INSTRUCTOR, "instructor-paced"), (STUDENT, "student-paced")]

    teacher = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="class_sessions"
    )
    deck = models.ForeignKey(Deck, on_delete=models.PROTECT, related_name="sessions")
    join_code = models.CharField(max_length=6)
    state = models.CharField(max_length=10, choices=STATE_CHOICES, default=WAITING)
    pacing = models.CharField(max_length=12, choices=PACING_CHOICES, default=INSTRUCTOR)
    current_question = models.ForeignKey(
        Question, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Question ids whose responses are locked, and whose results are shown on the projector.
    locked_question_ids = models.JSONField(default=list, blank=True)
    revealed_question_ids = models.JSONField(default=list, blank=True)
    seq = models.BigIntegerField(default=0)
    # Grows with every change of the session's answers (responses/intake.py, in the answer batch's
    # transaction under the session's row lock; a removal too), so commit order is version order.
    answers_seq = models.BigIntegerField(default=0)
    projector_key_hash = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # Codes are reused once a session has ended; never two open sessions with one code.
            models.UniqueConstraint(
                fields=["join_code"], condition=~Q(state="ended"), name="join_code_unique_while_open"
            ),
        ]
        indexes = [models.Index(fields=["teacher", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.join_code} ({self.state})"

    def is_locked(self, question_id: int) -> bool:
        return question_id in self.locked_question_ids

    def is_revealed(self, question_id: int) -> bool:
        return question_id in self.revealed_question_ids


class Student(models.Model):
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="students")
    display_name = models.CharField(max_length=40)
    # display_name_key(display_name); folding can lengthen a name (U+FDFA is 18 letters), so text.
    name_key = models.TextField()
    token_hash = models.CharField(max_length=64, unique=True)
    # Where this student is, when the session is student-paced.
    current_question = models.ForeignKey(
        Question, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    joined_at = models.DateTimeField(auto_now_add=True)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["session", "name_key"],
                condition=Q(removed_at__isnull=True),
                name="display_name_key_unique_in_session",
            ),
        ]
        ordering = ["joined_at", "id"]

    def __str__(self) -> str:
        return self.display_name

    @property
    def is_removed(self) -> bool:
        return self.removed_at is not None
