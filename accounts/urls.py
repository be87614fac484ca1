from django.urls import path

from accounts import views

urlpatterns = [
    path("login/", views.RateLimitedLoginView.as_view(), name="login"),
    path("logout/", views.RevokingLogoutView.as_view(), name="logout"),
    # Register https://<host>/accounts/oidc/<provider>/callback/ with each provider (README).
    path("oidc/<str:provider_name>/start/", views.provider_start, name="provider_start"),
    path("oidc/<str:provider_name>/callback/", views.provider_callback, name="provider_callback"),
    path("connections/", views.connections_page, name="connections"),
    path("connections/<int:identity_id>/unlink/", views.unlink_identity, name="unlink_identity"),
]
