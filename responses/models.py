from django.db import models

from sessions.models import Question, Session, Student

WS, HTTP, FIREBASE = "ws", "http", "firebase"
SOURCE_CHOICES = [(WS, "WebSocket"), (HTTP, "HTTP"), (FIREBASE, "Firebase")]


class Response(models.Model):
    """A student's current answer to a question: the latest accepted submission wins."""

    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="responses")
    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="responses")
    student = models.ForeignKey(Student, on_delete=models.CASCADE, related_name="responses")
    answer = models.JSONField()
    is_correct = models.BooleanField(null=True)
    source = models.CharField(max_length=10, choices=SOURCE_CHOICES)
    submission_id = models.CharField(max_length=64)
    # How many accepted submissions this response has seen; 1 for the first answer.
    version = models.PositiveIntegerField(default=1)
    # The student's own order of the submission stored here (the client's `order`, 0 <= n < 2**53),
    # when it sent one: a later-arriving submission with a smaller order does not replace it.
    client_order = models.BigIntegerField(null=True, blank=True)
    starred = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["question", "student"], name="one_response_per_question_and_student"
            )
        ]
        indexes = [models.Index(fields=["session", "question"])]

    def __str__(self) -> str:
        return f"{self.student} → {self.question_id} v{self.version}"


class Submission(models.Model):
    """Every accepted submission, kept by its client-made id so a replay is recognised as one.

    A replay is answered with the student's current response to the question, found by (question,
    student); so a submission points at no response row, and the writer can record it in the same
    statement as its batch mates before their responses exist."""

    student = models.ForeignKey(Student, on_delete=models.CASCADE, related_name="submissions")
    submission_id = models.CharField(max_length=64)
    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="+")
    answer = models.JSONField()
    source = models.CharField(max_length=10, choices=SOURCE_CHOICES)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["student", "submission_id"], name="submission_id_unique_per_student"
            )
        ]

    def __str__(self) -> str:
        return self.submission_id
