"""The one domain error type. Services raise it; the API turns it into a 4xx JSON body
(web/errors.py holds the status of each code).

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
