"""The JSON API: one NinjaAPI with each app's router, and one error shape for every failure.

Every error body is {"error": {"code": ..., "message": ..., "field": ...}}; validation errors
add "fields", one entry per offending input. Nothing a client sends may produce a 500.
"""

import logging

from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser

from accounts.api import router as accounts_router
from domain import untrusted
from domain.errors import DomainError
from live.api import router as live_router
from live.api import student_router
from responses.api import router as responses_router
from sessions.api import router as sessions_router
from web.browser_metrics import router as browser_metrics_router
from web.errors import ErrorResponse, error_body, status_for

log = logging.getLogger(__name__)


class UntrustedJsonParser(Parser):
    """Request bodies are read by the same reader as WebSocket frames (domain.untrusted)."""

    def parse_body(self, request):
        return untrusted.loads(request.body)


api = NinjaAPI(
    parser=UntrustedJsonParser(),
    title="peardeck API",
    version="1",
    description=(
        "Live classroom sessions. Teachers authenticate with `Authorization: Bearer pdt_…` (an API token "
        "from POST /api/auth/tokens) or a browser login; students with `Authorization: Bearer pds_…`, the "
        'token POST /api/join returns. Errors are JSON: {"error": {"code", "message", "field"}}.'
    ),
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
    return ".".join(parts) or "body"


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
    fields = [
        {"field": _field_path(error.get("loc", ())), "message": error.get("msg", "invalid")}
        for error in exc.errors
    ]
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
    return error_response(request, exc.status_code, "http_error", exc.message)


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


def unknown_endpoint(request):
    """Any /api/ path no route claims: a JSON 404 rather than Django's HTML page."""
    return error_response(request, 404, "not_found", f"No endpoint {request.method} {request.path}.")


api.add_router("/", accounts_router)
api.add_router("/", sessions_router)
api.add_router("/", live_router)
api.add_router("/", student_router)
api.add_router("/", responses_router)
api.add_router("/", browser_metrics_router)
