"""How students and projectors call the API: the student's token, the projector's key."""

from domain.errors import DomainError
from sessions.selectors import session_for_projector_key, student_for_token
from web.auth import bearer_token

student_auth = bearer_token("StudentToken", student_for_token, attribute="student")
projector_auth = bearer_token("ProjectorKey", session_for_projector_key, attribute="projector_session")


def active_student(request):
    """The student this request is from, refused if the teacher removed them. The token lookup
    read the student and their session during this request, so nothing needs reading again."""
    student = request.student
    if student.is_removed:
        raise DomainError("student_removed", "The teacher removed you from this session.")
    return student
