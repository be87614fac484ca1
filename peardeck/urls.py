from django.contrib import admin
from django.urls import include, path

from peardeck import health
from peardeck.api import api

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("api/", api.urls),
    path("accounts/", include("accounts.urls")),
    path("admin/", admin.site.urls),
]
