"""Health endpoints for the load balancer and the kubelet.

`/healthz` (liveness) answers as long as the process can serve a request; it never touches the
database, Redis or Firebase, so an outage of one of those does not get healthy pods restarted.
`/readyz` (readiness) also checks the database, so a pod that cannot reach it stops taking traffic.
Both report the running version so each staged version can be told apart.
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
        return JsonResponse(
            {"status": "unavailable", "reason": f"database: {type(exc).__name__}", **_version()}, status=503
        )
    return JsonResponse({"status": "ok", **_version()})
