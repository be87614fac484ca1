from django.urls import path

from accounts.views import RateLimitedLoginView, RevokingLogoutView

urlpatterns = [
    path("login/", RateLimitedLoginView.as_view(), name="login"),
    path("logout/", RevokingLogoutView.as_view(), name="logout"),
]
