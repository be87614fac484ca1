"""How a refusal looks over HTTP: the status of each DomainError code, and the one error body.

Every error body is {"error": {"code": ..., "message": ..., "field": ...}}; peardeck/api.py renders
it for every failure the API meets, and endpoints with a refusal that is not a DomainError (the
browser-metrics report's per-item list) raise ErrorResponse to get the same body.
"""

from domain.errors import DomainError

# HTTP status for each code; anything not listed is a plain 400.
STATUS_BY_CODE = {
    "not_authenticated": 401,
    "bad_credentials": 401,
    "forbidden": 403,
    "password_sign_in_disabled": 403,
    "student_removed": 403,
    "not_found": 404,
    "session_not_found": 404,
    "deck_not_found": 404,
    "question_not_found": 404,
    "student_not_found": 404,
    "response_not_found": 404,
    "wrong_state": 409,
    "session_ended": 409,
    "session_not_live": 409,
    "session_not_ended": 409,
    "question_locked": 409,
    "question_not_current": 409,
    "not_answerable": 409,
    "name_taken": 409,
    "username_taken": 409,
    "submission_id_reused": 409,
    "question_has_responses": 409,
    "deck_empty": 409,
    "no_such_move": 409,
    "invalid_answer": 422,
    "invalid_question": 422,
    "invalid": 422,
    "payload_too_large": 413,
    "rate_limited": 429,
}


def status_for(error: DomainError) -> int:
    return STATUS_BY_CODE.get(error.code, 400)


def error_body(code: str, message: str, *, field: str | None = None, **extra) -> dict:
    error = {"code": code, "message": message}
    if field:
        error["field"] = field
    error.update(extra)
    return {"error": error}


class ErrorResponse(Exception):
    """An error body with its status, sent as it is by the API's handler."""

    def __init__(self, status: int, code: str, message: str, *, field: str | None = None, **extra):
        super().__init__(message)
        self.status = status
        self.body = error_body(code, message, field=field, **extra)
