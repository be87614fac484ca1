"""How a refusal looks over HTTP: every error code with its status and meaning, and the one body.

Every error body is {"error": {"code": ..., "message": ..., "field": ...}}: `field` is always
there, null when no one input is at fault; validation errors add "fields", one entry per
offending input. peardeck/api.py renders it for every failure the API meets, web/middleware.py
for what Django answers by itself under /api/, and endpoints with a refusal that is not a
DomainError (the browser-metrics report's per-item list) raise ErrorResponse to get the same body.

ERROR_CODES is the one table of codes: the status each is answered with comes from it, the
OpenAPI document's error table is generated from it (web/contract.py), and a test checks that
every code the code base raises is in it.
"""

from dataclasses import dataclass

from ninja import Field, Schema
from pydantic import ConfigDict

from domain.errors import DomainError


@dataclass(frozen=True)
class ErrorCode:
    status: int
    meaning: str


ERROR_CODES: dict[str, ErrorCode] = {
    # 400
    "malformed_json": ErrorCode(400, "The request body is not valid JSON."),
    "bad_request": ErrorCode(400, "The request is not one this server can read (a header or the path)."),
    # 401, 403
    "not_authenticated": ErrorCode(401, "No credentials, or ones this server does not know."),
    "bad_credentials": ErrorCode(401, "Unknown username or wrong password."),
    "csrf_failed": ErrorCode(
        403, "A browser login without its CSRF token (send X-CSRFToken, or use a bearer token)."
    ),
    "password_sign_in_disabled": ErrorCode(
        403, "Password sign-in is switched off here; teachers sign in with their school's account."
    ),
    "inactive": ErrorCode(403, "This teacher account has been switched off."),
    "student_removed": ErrorCode(403, "The teacher removed this student from the session."),
    # 404, 405
    "not_found": ErrorCode(404, "No such resource or endpoint."),
    "session_not_found": ErrorCode(404, "No session of yours (or no open session) with that id or code."),
    "deck_not_found": ErrorCode(404, "No deck of yours with that id."),
    "question_not_found": ErrorCode(404, "No question with that id in the deck or session."),
    "student_not_found": ErrorCode(404, "No student with that id in the session."),
    "response_not_found": ErrorCode(404, "No answer with that id in the session."),
    "method_not_allowed": ErrorCode(405, "The path exists, but not with this method (see Allow)."),
    # 409
    "wrong_state": ErrorCode(409, "The session is not in a state that allows this."),
    "session_ended": ErrorCode(409, "The session has ended."),
    "session_not_live": ErrorCode(409, "The session has not started yet."),
    "session_not_ended": ErrorCode(409, "Takeaways open when the teacher ends the session."),
    "question_locked": ErrorCode(409, "The teacher locked answers to this question."),
    "question_not_current": ErrorCode(409, "The class has moved on from this question."),
    "not_answerable": ErrorCode(409, "The question is a slide and takes no answer."),
    "name_taken": ErrorCode(409, "Someone in the session already has that display name."),
    "username_taken": ErrorCode(409, "That username is taken."),
    "identity_in_use": ErrorCode(409, "That school account already signs another teacher in."),
    "last_sign_in": ErrorCode(409, "The teacher's only way to sign in cannot be unlinked."),
    "submission_id_reused": ErrorCode(409, "That submission_id was already used for a different answer."),
    "question_has_responses": ErrorCode(409, "The question has answers, so it cannot change or go."),
    "deck_empty": ErrorCode(409, "The deck has no question to run."),
    "no_such_move": ErrorCode(409, "Already at the first or last question."),
    # 413, 422, 429
    "payload_too_large": ErrorCode(413, "The request body is larger than this endpoint accepts."),
    "invalid": ErrorCode(422, "An input is missing, of the wrong type or out of range (see field)."),
    "invalid_answer": ErrorCode(422, "The answer does not fit the question's kind and settings."),
    "invalid_question": ErrorCode(422, "The question's kind, prompt or config is not acceptable."),
    "rate_limited": ErrorCode(429, "Too many attempts from this client; see Retry-After."),
    # 500
    "internal": ErrorCode(500, "Something failed on the server; it has been logged."),
    # 503
    "unavailable": ErrorCode(
        503, "Answers are not being stored right now; send it again (same submission_id)."
    ),
}

# HTTP status for each code.
STATUS_BY_CODE = {code: entry.status for code, entry in ERROR_CODES.items()}


def status_for(error: DomainError) -> int:
    # A code missing from the table is a bug the table test catches; 400 keeps it a client error.
    return STATUS_BY_CODE.get(error.code, 400)


def error_body(code: str, message: str, *, field: str | None = None, **extra) -> dict:
    return {"error": {"code": code, "message": message, "field": field or None, **extra}}


class ErrorResponse(Exception):
    """An error body with its status, sent as it is by the API's handler."""

    def __init__(self, status: int, code: str, message: str, *, field: str | None = None, **extra):
        super().__init__(message)
        self.status = status
        self.body = error_body(code, message, field=field, **extra)


# --- the schema of the body, for the OpenAPI document -----------------------------------------


class FieldError(Schema):
    model_config = ConfigDict(extra="forbid")

    field: str = Field(
        description="the input at fault, as a dotted path (`answer.choices`, `metrics.3.value`)"
    )
    message: str
    reason: str | None = Field(default=None, description="a machine word, where the endpoint gives one")


class ErrorDetail(Schema):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(
        description="stable, for clients to branch on; each operation lists the codes it may answer "
        "(x-error-codes on each error response), and the API's description has the whole table"
    )
    message: str = Field(description="for people; may change")
    field: str | None = Field(description="the input at fault, null when no one input is")
    fields: list[FieldError] | None = Field(
        default=None, description="every input at fault, on validation errors (422)"
    )


class Error(Schema):
    """Every error the API answers, whatever the status."""

    model_config = ConfigDict(extra="forbid")

    error: ErrorDetail
