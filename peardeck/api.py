"""The JSON API: one NinjaAPI with each app's router, and one error shape for every failure.

Every error body is {"error": {"code": ..., "message": ..., "field": ...}} (web/errors.py);
validation errors add "fields", one entry per offending input. Nothing a client sends may produce
a 500. The OpenAPI document is ninja's, completed by web/contract.py with each operation's error
responses and the table of error codes.
"""

import logging

from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser

from accounts.api import router as accounts_router
from domain import untrusted
from domain.errors import DomainError
from live.api import router as live_router
from live.api import student_router
from responses.api import router as responses_router
from sessions import kinds
from sessions.api import router as sessions_router
from web import contract
from web.browser_metrics import router as browser_metrics_router
from web.errors import ErrorResponse, error_body, status_for
from web.pagination import MAX_PAGE_SIZE

log = logging.getLogger(__name__)

DESCRIPTION = f"""Live classroom sessions: teachers build decks and run them; students join with a
code and answer; the projector shows anonymous results.

**Who calls what.** Each operation names its security scheme: teachers send their API token
(`TeacherToken`, `Authorization: Bearer pdt_…`) or use their browser login (`TeacherLogin`);
students the token `POST /api/join` gave them (`StudentToken`, `pds_…`); the projector its key
(`ProjectorKey`, `pdp_…`).

**Errors** are JSON whatever the status, 4xx and 5xx alike, with one schema (`Error`):
`{{"error": {{"code": "question_locked", "message": "…", "field": "question_id"}}}}`. `field` is
always there (null when no one input is at fault). Each error response of an operation lists the
codes it may carry (`x-error-codes`); a client branches on `code`, which is stable:

{contract.error_table()}

**Conditional reads.** The state documents (`get_session`, `get_student_state`,
`get_projector_state`) carry an `ETag`; send it back as `If-None-Match`, or the `seq` you hold as
`?since=`, and a document that has not changed is a bodiless 304.

**Lists that grow** (`list_decks`, `list_sessions`, `list_responses`) come a page at a time:
`{{"items": [...], "next_cursor": "…"}}`; pass `cursor=<next_cursor>` for the next page, until it
is null. `limit` is 1 to {MAX_PAGE_SIZE} (default 50).

**Live updates** go over WebSockets (`/ws/sessions/<join code>/<role>/`), outside this document;
see the README.
"""


class UntrustedJsonParser(Parser):
    """Request bodies are read by the same reader as WebSocket frames (domain.untrusted)."""

    def parse_body(self, request):
        return untrusted.loads(request.body)


class PeardeckAPI(NinjaAPI):
    def get_openapi_schema(self, *, path_prefix=None, path_params=None):
        # Built once per process: the routes do not change while it runs, and building takes ~1 s.
        key = (path_prefix, tuple(sorted((path_params or {}).items())))
        cache = self.__dict__.setdefault("_openapi_schemas", {})
        if key not in cache:
            schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
            cache[key] = contract.complete(schema)
        return cache[key]


api = PeardeckAPI(
    parser=UntrustedJsonParser(),
    title="peardeck API",
    version="1",
    description=DESCRIPTION,
    servers=[{"url": "/", "description": "this server (the paths begin with /api/)"}],
    urls_namespace="api",
)


def error_response(request, status: int, code: str, message: str, *, field: str | None = None, **extra):
    return api.create_response(request, error_body(code, message, field=field, **extra), status=status)


def _field_path(location: tuple | list) -> str:
    # ("body", "payload", "answer", "x") -> "answer.x": the transport part says nothing to a client.
    parts = [str(part) for part in location]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie", "form"}:
        parts = parts[1:]
    if parts and parts[0] == "payload":
        parts = parts[1:]
    if len(parts) > 1 and parts[0] in kinds.KINDS:
        # A question body is a union discriminated on `kind`; pydantic puts the tag in the path.
        parts = parts[1:]
    return ".".join(parts) or "body"


def _error_field(error: dict) -> str:
    location = list(error.get("loc", ()))
    if error.get("type") in {"union_tag_invalid", "union_tag_not_found"}:
        # A body discriminated on a field (a question's `kind`): that field is at fault.
        location.append(str(error.get("ctx", {}).get("discriminator", "")).strip("'"))
    return _field_path(location)


@api.exception_handler(DomainError)
def _domain_error(request, exc: DomainError):
    response = error_response(request, status_for(exc), exc.code, exc.message, field=exc.field)
    if exc.retry_after:
        response["Retry-After"] = str(exc.retry_after)
    return response


@api.exception_handler(ErrorResponse)
def _error_response(request, exc: ErrorResponse):
    return api.create_response(request, exc.body, status=exc.status)


@api.exception_handler(ValidationError)
def _validation_error(request, exc: ValidationError):
    fields = [{"field": _error_field(error), "message": error.get("msg", "invalid")} for error in exc.errors]
    first = fields[0] if fields else {"field": "body", "message": "invalid"}
    return error_response(
        request, 422, "invalid", f"{first['field']}: {first['message']}", field=first["field"], fields=fields
    )


@api.exception_handler(AuthenticationError)
def _authentication_error(request, exc):
    return error_response(
        request, 401, "not_authenticated", "Send a valid token: Authorization: Bearer <token>."
    )


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    if exc.status_code == 400 and "parse request body" in exc.message:
        cause = exc.__cause__
        readable = isinstance(cause, untrusted.UnreadableJson) and cause.reason != "malformed"
        message = cause.message if readable else "The request body is not valid JSON."
        return error_response(request, 400, "malformed_json", message, field="body")
    if exc.status_code == 403 and "CSRF" in exc.message:
        return error_response(
            request,
            403,
            "csrf_failed",
            "A browser login needs its CSRF token in X-CSRFToken (API clients: use a bearer token).",
        )
    return error_response(request, exc.status_code, "bad_request", exc.message)


@api.exception_handler(RequestDataTooBig)
def _too_big(request, exc):
    return error_response(
        request,
        413,
        "payload_too_large",
        "The request body is larger than this server accepts.",
        field="body",
    )


@api.exception_handler(Http404)
def _not_found(request, exc):
    return error_response(request, 404, "not_found", "No such resource.")


@api.exception_handler(Exception)
def _unexpected(request, exc):
    log.exception("unhandled error in %s %s", request.method, request.path)
    return error_response(request, 500, "internal", "Something went wrong on our side; it has been logged.")


@csrf_exempt
def unknown_endpoint(request):
    """Any /api/ path no route claims: a JSON 404 rather than Django's HTML page, for every method
    (so a POST is not met by the CSRF check first: there is nothing here to protect)."""
    return error_response(request, 404, "not_found", f"No endpoint {request.method} {request.path}.")


api.add_router("/", accounts_router)
api.add_router("/", sessions_router)
api.add_router("/", live_router)
api.add_router("/", student_router)
api.add_router("/", responses_router)
api.add_router("/", browser_metrics_router)
