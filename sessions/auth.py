"""How students and projectors call the API: the student's token, the projector's key.

A student's token is checked against this process's live-state cache (sessions/live_state.py):
no query on the hot path (answers, polls). The Student it yields carries the fields of the
cache (id, session id, display name, where they are, removed or not); its `session` is read from
the database only if an endpoint asks for it.
"""

from django.conf import settings
from django.utils import timezone

from domain.errors import DomainError
from domain.tokens import STUDENT_PREFIX, token_hash
from sessions import live_state
from sessions.models import Student
from sessions.selectors import session_for_projector_key
from web.auth import bearer_token
from web.ratelimit import Budgets, check_token_budget


def cached_student_for_token(plaintext: str) -> Student | None:
    """The token's student from the live-state cache, spending none of their request budget."""
    if not plaintext.startswith(STUDENT_PREFIX):
        return None
    found = live_state.student_for_token_hash(token_hash(plaintext))
    if found is None:
        return None
    # Removal bumps seq (announced), and the answer writer checks it again in SQL.
    record = live_state.session(found.session_id, ttl=live_state.ANSWER_TTL_SECONDS)
    if record is None:
        return None
    return Student(
        pk=found.id,
        session_id=found.session_id,
        display_name=found.display_name,
        current_question_id=found.current_question_id,
        token_hash=found.token_hash,
        # Only whether, not when: a removed student is refused, and that is all it is used for.
        removed_at=timezone.now() if found.id in record.removed else None,
    )


# Every request made with a student's token, whatever the endpoint: far more than a page makes
# (it polls every few seconds at most and answers by hand), far less than a loop in a console.
STUDENT_REQUESTS = Budgets(rate=settings.STUDENT_REQUESTS_PER_SECOND, burst=settings.STUDENT_REQUEST_BURST)


def spend_request_budget(student: Student) -> None:
    check_token_budget(STUDENT_REQUESTS, "student", student.pk)


def _student_within_budget(token: str):
    student = cached_student_for_token(token)
    if student is not None:
        spend_request_budget(student)
    return student


student_auth = bearer_token(
    "StudentToken",
    _student_within_budget,
    attribute="student",
    description=(
        "A student's token, `pds_…`, from POST /api/join (shown once); good for that session only. "
        "Requests made with it share a budget (STUDENT_REQUESTS_PER_SECOND): past it, 429 rate_limited."
    ),
)
projector_auth = bearer_token(
    "ProjectorKey",
    session_for_projector_key,
    attribute="projector_session",
    description=(
        "A session's read-only projector key, `pdp_…`: from POST /api/sessions or "
        "POST /api/sessions/{session_id}/projector-key (which replaces the previous one)."
    ),
)


def active_student(request):
    """The student this request is from, refused if the teacher removed them (as the cache knows)."""
    student = request.student
    if student.is_removed:
        raise DomainError("student_removed", "The teacher removed you from this session.")
    return student
