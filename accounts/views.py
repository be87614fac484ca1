from django.contrib.auth.views import LoginView, LogoutView
from django.http import HttpResponse

from accounts.services import revoke_socket_credentials
from domain.errors import DomainError
from domain.tokens import token_hash
from web.ratelimit import check_rate, client_address


class RateLimitedLoginView(LoginView):
    template_name = "accounts/login.html"

    def post(self, request, *args, **kwargs):
        try:
            check_rate("login", client_address(request))
        except DomainError as exc:
            response = HttpResponse(exc.message, status=429, content_type="text/plain")
            response["Retry-After"] = str(exc.retry_after)
            return response
        return super().post(request, *args, **kwargs)


class RevokingLogoutView(LogoutView):
    """Logging out also closes the dashboard sockets this browser login opened."""

    def post(self, request, *args, **kwargs):
        user_id, session_key = request.user.pk, request.session.session_key
        response = super().post(request, *args, **kwargs)
        if user_id is not None and session_key:
            revoke_socket_credentials(user_id=user_id, credentials=[("login", token_hash(session_key))])
        return response
