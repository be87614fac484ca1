"""How students and projectors call the API: the student's token, the projector's key."""

from django.conf import settings

from domain.errors import DomainError
from sessions.selectors import session_for_projector_key, student_for_token
from web.auth import bearer_token
from web.ratelimit import Budgets, check_token_budget

# Every request made with a student's token, whatever the endpoint: far more than a page makes
# (it polls every few seconds at most and answers by hand), far less than a loop in a console.
STUDENT_REQUESTS = Budgets(rate=settings.STUDENT_REQUESTS_PER_SECOND, burst=settings.STUDENT_REQUEST_BURST)


def _student_within_budget(token: str):
    student = student_for_token(token)
    if student is not None:
        check_token_budget(STUDENT_REQUESTS, "student", student.pk)
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
    """The student this request is from, refused if the teacher removed them. The token lookup
    read the student and their session during this request, so nothing needs reading again."""
    student = request.student
    if student.is_removed:
        raise DomainError("student_removed", "The teacher removed you from this session.")
    return student
