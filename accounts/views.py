"""Teachers' sign-in pages: the password form (while PASSWORD_SIGN_IN is on), signing in with the
school's Google or Microsoft account (accounts/oidc.py does the protocol), and the page where a
signed-in teacher links or unlinks those accounts."""

import logging

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView, LogoutView
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from accounts import oidc, services
from accounts.admission import SignInRefused, admit
from accounts.selectors import provider_identities_of, school_for_domain
from domain.errors import DomainError
from domain.tokens import token_hash
from observability import signins
from web.ratelimit import check_rate, client_address

logger = logging.getLogger(__name__)
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
# Sign-ins started and not yet back from the provider, by state: which provider, what for, and
# where to go after. A browser that starts many keeps only the newest few.
_FLOWS = "peardeck_sign_in_flows"
_MAX_PENDING_FLOWS = 5

_REFUSAL_STATUS = {
    signins.DOMAIN_NOT_ALLOWED: 403,
    signins.TENANT_NOT_ALLOWED: 403,
    signins.EMAIL_NOT_VERIFIED: 403,
    signins.INACTIVE: 403,
    signins.IDENTITY_IN_USE: 409,
    signins.INVALID_STATE: 400,
    signins.INVALID_TOKEN: 400,
    signins.PROVIDER_ERROR: 400,
}


class RateLimitedLoginView(LoginView):
    template_name = "accounts/login.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["providers"] = list(oidc.configured_providers().values())
        context["password_sign_in"] = settings.PASSWORD_SIGN_IN
        return context

    def post(self, request, *args, **kwargs):
        try:
            check_rate("login", client_address(request))
        except DomainError as exc:
            response = HttpResponse(exc.message, status=429, content_type="text/plain")
            response["Retry-After"] = str(exc.retry_after)
            return response
        if not settings.PASSWORD_SIGN_IN:
            signins.count(signins.PASSWORD, signins.DISABLED)
            context = self.get_context_data(password_refused=True)
            return self.render_to_response(context, status=403)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        signins.count(signins.PASSWORD, signins.SIGNED_IN)
        return super().form_valid(form)

    def form_invalid(self, form):
        signins.count(signins.PASSWORD, signins.BAD_CREDENTIALS)
        return super().form_invalid(form)


def _provider_or_404(name: str) -> oidc.Provider:
    provider = oidc.configured_providers().get(name)
    if provider is None:
        raise Http404("No such sign-in provider here.")
    return provider


@require_POST
def provider_start(request, provider_name: str):
    """Sends the browser to the provider; `purpose=link` adds the account to the signed-in teacher."""
    provider = _provider_or_404(provider_name)
    linking = request.POST.get("purpose") == "link"
    if linking and not request.user.is_authenticated:
        return HttpResponseRedirect(f"{settings.LOGIN_URL}?next={reverse('connections')}")
    redirect_uri = request.build_absolute_uri(reverse("provider_callback", args=[provider.name]))
    try:
        url, state = oidc.start(request, provider, redirect_uri=redirect_uri)
    except SignInRefused as refusal:
        return _refused(request, provider, refusal)
    flows = request.session.get(_FLOWS, {})
    flows[state] = {
        "provider": provider.name,
        "purpose": "link" if linking else "sign_in",
        "user_id": request.user.pk if linking else None,
        "next": request.POST.get("next", ""),
    }
    for stale in list(flows)[:-_MAX_PENDING_FLOWS]:
        stale_provider = oidc.configured_providers().get(flows.pop(stale)["provider"])
        if stale_provider is not None:
            oidc.forget(request, stale_provider, stale)
    request.session[_FLOWS] = flows
    return HttpResponseRedirect(url)


@require_GET
def provider_callback(request, provider_name: str):
    provider = _provider_or_404(provider_name)
    state = request.GET.get("state", "")
    flows = request.session.get(_FLOWS, {})
    flow = flows.pop(state, None)
    if flow is not None:
        request.session[_FLOWS] = flows
    linking = flow is not None and flow["purpose"] == "link"
    try:
        if flow is None or flow["provider"] != provider.name:
            raise SignInRefused(signins.INVALID_STATE)
        if linking and request.user.pk != flow["user_id"]:
            # Started by another teacher in this browser, who has signed out since.
            raise SignInRefused(signins.INVALID_STATE)
        claims = oidc.verified_claims(request, provider)
        admission = admit(provider.name, claims, school_for_domain=school_for_domain)
        try:
            if linking:
                services.link_provider(user=request.user, provider=provider.name, admission=admission)
                outcome = signins.LINKED
            else:
                teacher, created = services.sign_in_with_provider(provider=provider.name, admission=admission)
                outcome = signins.CREATED if created else signins.SIGNED_IN
        except DomainError as exc:
            if exc.code not in (signins.IDENTITY_IN_USE, signins.INACTIVE):
                raise
            raise SignInRefused(exc.code, email=admission.email) from exc
    except SignInRefused as refusal:
        oidc.forget(request, provider, state)
        return _refused(request, provider, refusal)
    if not linking:
        login(request, teacher, backend=MODEL_BACKEND)
    signins.count(provider.name, outcome)
    default = reverse("connections") if linking else settings.LOGIN_REDIRECT_URL
    return HttpResponseRedirect(_safe_next(request, flow.get("next")) or default)


def _safe_next(request, url: str | None) -> str | None:
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return None


def _refused(request, provider: oidc.Provider, refusal: SignInRefused):
    signins.count(provider.name, refusal.outcome)
    # For whoever answers the school's call; the details hold no token, only why.
    logger.info("%s sign-in refused: %s %s", provider.name, refusal.outcome, refusal.details)
    status = _REFUSAL_STATUS[refusal.outcome]
    if refusal.outcome == signins.PROVIDER_ERROR and refusal.details.get("unreachable"):
        status = 502
    context = {
        "outcome": refusal.outcome,
        "provider": provider,
        "password_sign_in": settings.PASSWORD_SIGN_IN,
        **refusal.details,
    }
    return render(request, "accounts/sign_in_refused.html", context, status=status)


@login_required
def connections_page(request, *, error: str = "", status: int = 200):
    identities = list(provider_identities_of(request.user))
    context = {
        "identities": identities,
        "providers": list(oidc.configured_providers().values()),
        "has_password": settings.PASSWORD_SIGN_IN and request.user.has_usable_password(),
        "error": error,
    }
    return render(request, "accounts/connections.html", context, status=status)


@login_required
@require_POST
def unlink_identity(request, identity_id: int):
    try:
        services.unlink_provider(
            user=request.user, identity_id=identity_id, password_sign_in=settings.PASSWORD_SIGN_IN
        )
    except DomainError as exc:
        return connections_page(request, error=exc.message, status=409 if exc.code == "last_sign_in" else 404)
    return HttpResponseRedirect(reverse("connections"))


class RevokingLogoutView(LogoutView):
    """Logging out also closes the dashboard sockets this browser login opened."""

    def post(self, request, *args, **kwargs):
        user_id, session_key = request.user.pk, request.session.session_key
        response = super().post(request, *args, **kwargs)
        if user_id is not None and session_key:
            services.revoke_socket_credentials(
                user_id=user_id, credentials=[("login", token_hash(session_key))]
            )
        return response
