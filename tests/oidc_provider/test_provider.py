"""The stand-in holds a relying party to the protocol as Google and Microsoft do, so that the
sign-in tests passing means peardeck spoke it properly."""

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.oidc_provider.provider import StandInProvider

REDIRECT = "http://127.0.0.1:1/accounts/oidc/google/callback/"


@pytest.fixture
def standin():
    provider = StandInProvider("google", client_id="client", client_secret="secret").start()
    provider.redirect_uris.add(REDIRECT)
    provider.add_user("edna@springfield.example")
    yield provider
    provider.stop()


def authorize(standin, **overrides) -> tuple[str, str]:
    """Signs Edna in; returns (code, verifier)."""
    verifier = secrets.token_urlsafe(32)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = {
        "response_type": "code",
        "client_id": "client",
        "redirect_uri": REDIRECT,
        "scope": "openid email",
        "state": "s1",
        "nonce": "n1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **overrides,
    }
    back = standin.sign_in(f"{standin.authorization_endpoint}?{urlencode(query)}", "edna@springfield.example")
    params = parse_qs(urlsplit(back).query)
    assert params["state"] == ["s1"]
    return params["code"][0], verifier


def exchange(standin, code, verifier, **overrides):
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    return httpx.post(standin.token_endpoint, data={**form, **overrides}, auth=("client", "secret"))


def test_discovery_names_the_endpoints_and_the_token_verifies_with_the_published_keys(standin):
    metadata = httpx.get(standin.discovery_url).json()
    assert metadata["issuer"] == standin.root
    code, verifier = authorize(standin)
    token = exchange(standin, code, verifier).json()["id_token"]
    keys = KeySet.import_key_set(httpx.get(metadata["jwks_uri"]).json())
    claims = jwt.decode(token, keys, algorithms=["RS256"]).claims
    assert (claims["aud"], claims["nonce"], claims["email"]) == ("client", "n1", "edna@springfield.example")


@pytest.mark.parametrize(
    "overrides",
    [{"code_challenge_method": "plain"}, {"redirect_uri": "http://evil.example/cb"}, {"nonce": ""}],
)
def test_an_authorization_request_without_pkce_s256_a_registered_redirect_or_a_nonce_is_refused(
    standin, overrides
):
    query = {
        "response_type": "code",
        "client_id": "client",
        "redirect_uri": REDIRECT,
        "scope": "openid",
        "state": "s",
        "nonce": "n",
        "code_challenge": "c",
        "code_challenge_method": "S256",
        **overrides,
    }
    assert httpx.get(f"{standin.authorization_endpoint}?{urlencode(query)}").status_code == 400


def test_the_code_needs_the_right_verifier_and_secret_and_works_once(standin):
    code, verifier = authorize(standin)
    assert exchange(standin, code, "a-wrong-verifier").json()["error"] == "invalid_grant"
    code, verifier = authorize(standin)
    wrong_secret = httpx.post(
        standin.token_endpoint,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        auth=("client", "not-the-secret"),
    )
    assert wrong_secret.status_code == 401
    code, verifier = authorize(standin)
    assert exchange(standin, code, verifier).status_code == 200
    assert exchange(standin, code, verifier).status_code == 400
