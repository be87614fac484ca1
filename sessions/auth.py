"""How students and projectors call the API: the student's token, the projector's key."""

from domain.errors import DomainError
from sessions.selectors import session_for_projector_key, student_for_token
from web.auth import bearer_token

student_auth = bearer_token(
    "StudentToken",
    student_for_token,
    attribute="student",
    description="A student's token, `pds_…`, from POST /api/join (shown once); good for that session only.",
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
