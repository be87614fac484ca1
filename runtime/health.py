"""Health endpoints for the load balancer and the kubelet, answered before any other middleware.

The kubelet calls with the pod's IP as Host and the load balancer over plain HTTP, so these
must not meet the Host check or the HTTPS redirect; they carry no data worth protecting.

`/healthz` (liveness) answers as long as the process can serve a request; it never touches the
database, Redis or Firebase, so an outage of one of those does not get healthy pods restarted.
`/readyz` (readiness) also checks the database, so a pod that cannot reach it stops taking
traffic. Both report the running version so each staged version can be told apart.
"""

from django.conf import settings
from django.db import connection
from django.http import JsonResponse


def _version() -> dict:
    return {"version": settings.PEARDECK_VERSION, "commit": settings.PEARDECK_COMMIT}


def healthz(request):
    return JsonResponse({"status": "ok", **_version()})


def readyz(request):
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any database failure means "not ready", never a 500
        body = {"status": "unavailable", "reason": f"database: {type(exc).__name__}", **_version()}
        return JsonResponse(body, status=503)
    return JsonResponse({"status": "ok", **_version()})


_ENDPOINTS = {"/healthz": healthz, "/readyz": readyz}


class HealthCheckMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        endpoint = _ENDPOINTS.get(request.path_info)
        if endpoint is not None and request.method in ("GET", "HEAD"):
            return endpoint(request)
        return self.get_response(request)
