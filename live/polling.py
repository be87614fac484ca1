"""The students' poll with nothing new, answered before the rest of the middleware stack.

A student whose WebSocket and Firebase both fail polls GET /api/student/state with the ETag it
holds; in a class of thirty that is thirty polls a second or two with nothing new. The endpoint
itself answers those without a query (live/api.py, from sessions/live_state.py), but the request
still crosses every middleware (sessions, CSRF, auth, messages) and the API's routing, which cost
four times what the answer needs. So this middleware, placed after the security middleware (HTTPS
redirect, HSTS) and after the request metrics have counted the request, answers a poll whose
If-None-Match matches the student's current ETag with the same bodiless 304, and counts the
response as the endpoint's. Everything else (no ETag, another one, a query string such as
`since`, an unknown or removed student, a cache miss that needs the database) goes on to the
endpoint, which decides as it always does.
"""

from django.http import HttpResponse
from django.urls import resolve
from django_prometheus.middleware import PrometheusAfterMiddleware

from domain.errors import DomainError
from live.documents import student_version
from sessions import live_state
from sessions.auth import cached_student_for_token, spend_request_budget

PATH = "/api/student/state"


class ConditionalPollMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        # The endpoint's own response metrics, for the polls answered here.
        self.metrics = PrometheusAfterMiddleware(get_response)
        self._match = None

    def __call__(self, request):
        if request.path_info == PATH and request.method == "GET" and not request.META.get("QUERY_STRING"):
            not_modified = self._not_modified(request)
            if not_modified is not None:
                return not_modified
        return self.get_response(request)

    def _not_modified(self, request) -> HttpResponse | None:
        held = request.headers.get("If-None-Match")
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if not held or scheme.lower() != "bearer" or not token:
            return None
        request.get_host()  # the Host check every other request meets (400 when it fails)
        student = cached_student_for_token(token.strip())
        if student is None or student.is_removed:
            return None
        record = live_state.session(student.session_id)
        if record is None:
            return None
        etag = student_version(
            student.pk, record.seq, record.answers_seq, live_state.student_question_id(student, record)
        )
        quoted = f'"{etag}"'
        if quoted not in (tag.strip().removeprefix("W/") for tag in held.split(",")):
            return None
        try:
            spend_request_budget(student)
        except DomainError:
            return None  # the endpoint refuses it, with the same budget
        response = HttpResponse(status=304)
        response["ETag"] = quoted
        if self._match is None:
            self._match = resolve(PATH)
        request.resolver_match = self._match
        self.metrics.process_request(request)
        return self.metrics.process_response(request, response)
