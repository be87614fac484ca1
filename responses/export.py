"""CSV export of a session's final answers, one row per response of each student on the roster.

Columns: student, student_id, question_id, position (0-based, the API's `position`), question,
kind, answer (for people), correct, source, version, answered_at (when the answer last changed;
a teacher's star does not change it), raw_answer (the stored JSON).
"""

import csv
import io
import json
import re

from responses.models import Response
from sessions import kinds
from sessions.models import Session

HEADER = [
    "student",
    "student_id",
    "question_id",
    "position",
    "question",
    "kind",
    "answer",
    "correct",
    "source",
    "version",
    "answered_at",
    "raw_answer",
]
# A cell starting with one of these is a formula to a spreadsheet; a student could plant one.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# ...but a plain number such as -3 is only a number, and stays one.
_PLAIN_NUMBER = re.compile(r"-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")


def _safe(value: str) -> str:
    if value.startswith(_FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def session_csv(session: Session) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    responses = (
        Response.objects.filter(session=session, student__removed_at__isnull=True)
        .select_related("student", "question")
        .order_by("student__display_name", "student_id", "question__position", "question_id")
    )
    for response in responses:
        question = response.question
        correct = "" if response.is_correct is None else ("yes" if response.is_correct else "no")
        writer.writerow(
            [
                _safe(response.student.display_name),
                response.student_id,
                question.pk,
                question.position,
                _safe(question.prompt),
                question.kind,
                _safe(kinds.answer_text(question.kind, question.config, response.answer)),
                correct,
                response.source,
                response.version,
                response.updated_at.isoformat(),
                _safe(json.dumps(response.answer, separators=(",", ":"))),
            ]
        )
    return buffer.getvalue()
