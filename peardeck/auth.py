"""Who is calling the API: a teacher (API token or browser session) or a student (their token)."""

from ninja.security import HttpBearer, django_auth

from accounts.selectors import teacher_for_api_token
from domain.errors import DomainError
from sessions.selectors import session_for_projector_key, student_for_token


class TeacherToken(HttpBearer):
    openapi_scheme = "bearer"

    def authenticate(self, request, token: str):
        user = teacher_for_api_token(token)
        if user is not None:
            request.user = user
        return user


class StudentToken(HttpBearer):
    def authenticate(self, request, token: str):
        student = student_for_token(token)
        if student is None:
            return None
        request.student = student
        return student


class ProjectorKey(HttpBearer):
    def authenticate(self, request, token: str):
        session = session_for_projector_key(token)
        if session is not None:
            request.projector_session = session
        return session


def active_student(request):
    """The student this request is from, refused if the teacher removed them. The token lookup
    read the student and their session during this request, so nothing needs reading again."""
    student = request.student
    if student.is_removed:
        raise DomainError("student_removed", "The teacher removed you from this session.")
    return student


teacher_auth = [TeacherToken(), django_auth]
projector_auth = ProjectorKey()
student_auth = StudentToken()
