"""The one domain error type. Services raise it; the API turns it into a 4xx JSON body.

`code` is a stable machine word a client can branch on; `field` names the input at fault, when
there is one; `message` is for people.
"""


class DomainError(Exception):
    def __init__(self, code: str, message: str, *, field: str | None = None, retry_after: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.retry_after = retry_after

    def as_dict(self) -> dict:
        body = {"code": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        return body


# HTTP status for each code; anything not listed is a plain 400.
STATUS_BY_CODE = {
    "not_authenticated": 401,
    "bad_credentials": 401,
    "forbidden": 403,
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
