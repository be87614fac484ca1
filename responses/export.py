"""CSV export of a session's final answers, one row per response of each student on the roster."""

import csv
import io
import json

from responses.models import Response
from sessions import kinds
from sessions.models import Session

HEADER = [
    "student",
    "question_number",
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


def _safe(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


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
                question.position + 1,
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
