from django.contrib.auth.views import LoginView
from django.http import HttpResponse

from domain.errors import DomainError
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
