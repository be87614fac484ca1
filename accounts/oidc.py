"""Teachers sign in with their school's Google or Microsoft account: OpenID Connect's
authorization-code flow, through Authlib's Django client.

Why Authlib: it is a client library, not an account system. Its Django client reads each
provider's discovery document, makes `state` and keeps it in the Django session beside the PKCE
verifier and the nonce, exchanges the code with the verifier, and verifies the ID token against
the provider's published keys (joserfc), while the teachers, their identities and the schools'
allow-list stay our own models. mozilla-django-oidc knows one provider per site and no discovery;
django-allauth would bring its own account, e-mail and login flows to replace ours. The README's
"Signing in with Google or Microsoft" says more.

What is checked before a teacher is let in, in order:
1. `state`: the callback's state must be one this browser's session started (and, to link, by the
   same signed-in teacher); it is used once. Nothing is sent to the provider otherwise.
2. The code is exchanged with the PKCE (S256) verifier, which never left the server.
3. The ID token must be present and signed by one of the provider's keys with an asymmetric
   algorithm it advertises; `iss` must be the discovery document's issuer (Microsoft's
   `{tenantid}` template filled with the token's own `tid`), `aud` must hold our client id (and
   `azp`, when there, be it), `exp`/`iat` hold within LEEWAY_SECONDS, and `nonce` must be the
   one this session sent.
4. accounts/admission.py: the verified e-mail's domain must belong to a school on the allow-list,
   under each provider's own rule for what makes the address the school's.
"""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import requests
from authlib.integrations.base_client.errors import MismatchingStateError, OAuthError
from authlib.integrations.django_client import DjangoIntegration, DjangoOAuth2App
from django.conf import settings
from joserfc.errors import JoseError

from accounts.admission import LABELS, SignInRefused
from accounts.models import TENANT_ID
from observability import signins

SCOPE = "openid email profile"
LEEWAY_SECONDS = 60
# Discovery documents and key sets are re-read this often; an unknown key id re-reads the keys at once.
METADATA_MAX_AGE_SECONDS = 24 * 3600
# Only public-key signatures: a symmetric one would be made with our own client secret.
_SIGNING_ALGORITHMS = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}


@dataclass(frozen=True)
class Provider:
    name: str
    client_id: str
    client_secret: str = field(repr=False)
    discovery_url: str

    @property
    def label(self) -> str:
        return LABELS[self.name]


def configured_providers() -> dict[str, Provider]:
    return {
        name: Provider(name=name, **config)
        for name, config in settings.OIDC_PROVIDERS.items()
        if name in signins.OIDC_PROVIDERS
    }


class _ProviderClient(DjangoOAuth2App):
    """Authlib's Django client, re-reading discovery now and then and keeping to asymmetric
    signatures whatever a discovery document lists."""

    def load_server_metadata(self):
        loaded_at = self.server_metadata.get("_loaded_at")
        if loaded_at is not None and time.time() - loaded_at > METADATA_MAX_AGE_SECONDS:
            self.server_metadata.pop("_loaded_at", None)
            self.server_metadata.pop("jwks", None)
        metadata = super().load_server_metadata()
        advertised = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
        metadata["id_token_signing_alg_values_supported"] = [
            alg for alg in advertised if alg in _SIGNING_ALGORITHMS
        ] or ["RS256"]
        return metadata


_clients: dict[Provider, _ProviderClient] = {}
_clients_lock = threading.Lock()


def _client(provider: Provider) -> _ProviderClient:
    with _clients_lock:
        client = _clients.get(provider)
        if client is None:
            client = _ProviderClient(
                DjangoIntegration(provider.name),
                provider.name,
                client_id=provider.client_id,
                client_secret=provider.client_secret,
                server_metadata_url=provider.discovery_url,
                client_kwargs={
                    "scope": SCOPE,
                    "code_challenge_method": "S256",
                    # The secret in the form body, as both providers' guides show it.
                    "token_endpoint_auth_method": "client_secret_post",
                    "default_timeout": settings.OIDC_HTTP_TIMEOUT,
                },
            )
            _clients[provider] = client
        return client


def start(request, provider: Provider, *, redirect_uri: str) -> tuple[str, str]:
    """The provider's authorization URL for this browser, and its `state`; the state, PKCE
    verifier and nonce are kept in the session. Raises SignInRefused when the provider's
    discovery document cannot be read."""
    client = _client(provider)
    try:
        # `select_account`: a teacher signed in to a personal account too picks the school's.
        created = client.create_authorization_url(redirect_uri, prompt="select_account")
    except (requests.RequestException, ValueError, RuntimeError) as exc:
        raise SignInRefused(signins.PROVIDER_ERROR, unreachable=True) from exc
    client.save_authorize_data(request, redirect_uri=redirect_uri, **created)
    return created["url"], created["state"]


def forget(request, provider: Provider, state: str) -> None:
    """Drops a started sign-in's state from the session (Authlib's record of it)."""
    _client(provider).framework.clear_state_data(request.session, state)


def verified_claims(request, provider: Provider) -> dict:
    """The callback's ID-token claims once steps 1-3 of this module's list have passed."""
    client = _client(provider)
    if request.GET.get("error"):
        # Cancelled at the provider, or refused there; its own words are not shown as they are.
        forget(request, provider, request.GET.get("state", ""))
        raise SignInRefused(signins.PROVIDER_ERROR, error=request.GET["error"][:64])
    try:
        token = client.authorize_access_token(
            request, claims_options=_claims_options(provider, client), leeway=LEEWAY_SECONDS
        )
    except MismatchingStateError as exc:
        raise SignInRefused(signins.INVALID_STATE) from exc
    except JoseError as exc:
        raise SignInRefused(signins.INVALID_TOKEN, reason=str(exc)) from exc
    except OAuthError as exc:
        raise SignInRefused(signins.PROVIDER_ERROR, error=exc.error) from exc
    except (requests.RequestException, ValueError, KeyError, RuntimeError) as exc:
        raise SignInRefused(signins.PROVIDER_ERROR, unreachable=True) from exc
    claims = token.get("userinfo")
    if not claims:
        # Authlib verifies an ID token only when there is one; a bare access token proves nothing.
        raise SignInRefused(signins.INVALID_TOKEN, reason="no ID token")
    return dict(claims)


def _claims_options(provider: Provider, client: _ProviderClient) -> dict:
    try:
        issuer = client.load_server_metadata()["issuer"]
    except (requests.RequestException, ValueError, KeyError) as exc:
        raise SignInRefused(signins.PROVIDER_ERROR, unreachable=True) from exc
    return {
        "iss": {"essential": True, "validate": _issuer_check(issuer)},
        "aud": {"essential": True, "value": provider.client_id},
        "sub": {"essential": True},
        "exp": {"essential": True},
        "iat": {"essential": True},
        "nonce": {"essential": True},
    }


def _issuer_check(expected: str) -> Callable[[dict, object], bool]:
    """Microsoft's multi-tenant discovery names its issuer `.../{tenantid}/v2.0`; each token is
    issued by the teacher's own directory, named by the token's `tid`."""

    def check(claims, value) -> bool:
        if "{tenantid}" not in expected:
            return value == expected
        tenant = claims.get("tid")
        return (
            isinstance(tenant, str)
            and TENANT_ID.fullmatch(tenant) is not None
            and value == expected.replace("{tenantid}", tenant)
        )

    return check
