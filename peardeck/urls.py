from django.contrib import admin
from django.urls import include, path, re_path

from peardeck.api import api, unknown_endpoint
from runtime import health

urlpatterns = [
    # Normally answered by runtime.health.HealthCheckMiddleware before the Host check.
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("api/", api.urls),
    re_path(r"^api/", unknown_endpoint),
    path("accounts/", include("accounts.urls")),
    path("admin/", admin.site.urls),
    path("", include("sessions.urls")),
]
