"""Errors under /api/ are JSON, whoever answers: what Django or the framework answers by itself
(the 404 and 500 pages, ninja's 405 for a method a path does not take, a 400 for a bad Host, the
CSRF check's 403) is turned into the API's error body, keeping its status and its Allow header.
"""

from django.http import JsonResponse
from django.views.csrf import csrf_failure as django_csrf_failure

from web.errors import ERROR_CODES, error_body

API_PREFIX = "/api/"

# The code for each status Django or ninja may answer with by itself.
_CODE_BY_STATUS = {
    400: "bad_request",
    403: "csrf_failed",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
}
_KEPT_HEADERS = ("Allow", "Retry-After")


def _json_error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status)


class ApiErrorsAsJson:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.status_code >= 400
            and request.path.startswith(API_PREFIX)
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            return self._as_json(response)
        return response

    def _as_json(self, response):
        status = response.status_code
        code = _CODE_BY_STATUS.get(status, "internal" if status >= 500 else "bad_request")
        message = ERROR_CODES[code].meaning
        if status == 405:
            message = f"This path takes {response.get('Allow', 'other methods')}."
        replacement = _json_error(status, code, message)
        for header in _KEPT_HEADERS:
            if header in response:
                replacement[header] = response[header]
        return replacement


def csrf_failure(request, reason=""):
    """settings.CSRF_FAILURE_VIEW: the API's error body under /api/, Django's page elsewhere."""
    if request.path.startswith(API_PREFIX):
        return _json_error(
            403, "csrf_failed", f"CSRF check failed ({reason}); send X-CSRFToken, or use a bearer token."
        )
    return django_csrf_failure(request, reason=reason)
