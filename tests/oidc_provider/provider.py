"""A small OpenID provider of ours, serving what a relying party uses of Google or Microsoft:
discovery, the key set, an authorization endpoint with a sign-in form, and the token endpoint,
which returns ID tokens signed (RS256) with an RSA key made when the provider starts.

It holds the relying party to the protocol as the real providers do: the client id and secret,
registered redirect URIs, `response_type=code`, the `openid` scope, `state` and `nonce` carried
through, PKCE (S256 only, and the verifier checked on the exchange), codes used once and within a
minute. Tests make it misbehave on purpose with `tamper_next_token` (the next ID token's claims,
signing key or algorithm) and `tamper_next_redirect` (the next callback's parameters).

Flavours: "google" (issuer = the server's root; `email_verified`, `hd`) and "microsoft" (the
`organizations` endpoints; issuer `<root>/{tenantid}/v2.0` in discovery and the user's tenant in
each token's `iss` and `tid`; no `email_verified` unless given).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import httpx
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

CODE_LIFETIME_SECONDS = 60
TOKEN_LIFETIME_SECONDS = 300


@dataclass
class User:
    email: str
    sub: str
    claims: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str
    user: User
    issued_at: float


class StandInProvider:
    def __init__(self, flavour: str = "google", *, client_id: str, client_secret: str):
        assert flavour in ("google", "microsoft")
        self.flavour = flavour
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uris: set[str] = set()
        self.users: dict[str, User] = {}
        self.key, self.unpublished_key = _signing_keys()
        self.token_requests: list[dict[str, list[str]]] = []
        self.issued_id_tokens: list[str] = []
        self._pending: dict[str, dict[str, str]] = {}
        self._grants: dict[str, _Grant] = {}
        self._token_tamper: dict[str, Any] | None = None
        self._redirect_tamper: dict[str, str] | None = None
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # --- addresses -------------------------------------------------------------------------------

    @property
    def root(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def _prefix(self) -> str:
        return "/organizations" if self.flavour == "microsoft" else ""

    @property
    def discovery_url(self) -> str:
        path = "/v2.0/.well-known/openid-configuration" if self.flavour == "microsoft" else ""
        return f"{self.root}{self._prefix}{path or '/.well-known/openid-configuration'}"

    @property
    def issuer(self) -> str:
        return f"{self.root}/{{tenantid}}/v2.0" if self.flavour == "microsoft" else self.root

    def issuer_for(self, user: User) -> str:
        return self.issuer.replace("{tenantid}", user.claims.get("tid", ""))

    @property
    def authorization_endpoint(self) -> str:
        return f"{self.root}{self._prefix}/oauth2/v2.0/authorize"

    @property
    def token_endpoint(self) -> str:
        return f"{self.root}{self._prefix}/oauth2/v2.0/token"

    @property
    def jwks_uri(self) -> str:
        return f"{self.root}{self._prefix}/discovery/v2.0/keys"

    # --- set-up ----------------------------------------------------------------------------------

    def start(self) -> StandInProvider:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="oidc-standin", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def add_user(self, email: str, **claims) -> User:
        """A person who can sign in here; `claims` go into their ID tokens as given (for the
        google flavour `email_verified` defaults to true and `hd` to the address's domain)."""
        if self.flavour == "google":
            claims.setdefault("email_verified", True)
            claims.setdefault("hd", email.rpartition("@")[2])
        elif "tid" not in claims:
            raise ValueError("a Microsoft user needs a tid")
        user = User(email=email, sub=claims.pop("sub", secrets.token_hex(12)), claims=claims)
        self.users[email] = user
        return user

    def tamper_next_token(self, **changes) -> None:
        """The next ID token differs as told: claim values (`None` removes a claim), or
        `_sign_with="unpublished"`, `_alg="HS256"` (MACed with the client secret),
        `_omit=True` (no ID token in the response)."""
        self._token_tamper = changes

    def tamper_next_redirect(self, **params: str) -> None:
        self._redirect_tamper = params

    # --- what a browser does here ----------------------------------------------------------------

    def sign_in(self, authorization_url: str, email: str) -> str:
        """Follows an authorization URL as a person would (the form, then Continue), over HTTP;
        returns the URL the provider sends the browser back to."""
        form = httpx.get(authorization_url)
        assert form.status_code == 200, form.text
        request_id = re.search(r'name="request_id" value="([^"]+)"', form.text).group(1)
        answer = httpx.post(self.authorization_endpoint, data={"request_id": request_id, "email": email})
        assert answer.status_code == 302, answer.text
        return answer.headers["location"]

    # --- the endpoints ---------------------------------------------------------------------------

    def discovery(self) -> dict:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.authorization_endpoint,
            "token_endpoint": self.token_endpoint,
            "jwks_uri": self.jwks_uri,
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"] if self.flavour == "google" else ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nonce", "email", "name"],
        }

    def jwks(self) -> dict:
        return {"keys": [self.key.as_dict(private=False, alg="RS256")]}

    def authorization_request(self, query: dict[str, str]) -> tuple[int, str]:
        """Checks an authorization request; returns (status, HTML) of the sign-in form or the
        error page (a request this bad is never sent back to its redirect URI)."""
        problems = []
        if query.get("client_id") != self.client_id:
            problems.append("unknown client_id")
        if query.get("redirect_uri") not in self.redirect_uris:
            problems.append("redirect_uri not registered")
        if query.get("response_type") != "code":
            problems.append("response_type must be code")
        if "openid" not in query.get("scope", "").split():
            problems.append("scope must include openid")
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            problems.append("PKCE with S256 is required")
        if not query.get("state"):
            problems.append("state is required")
        if not query.get("nonce"):
            problems.append("nonce is required")
        if problems:
            return 400, f"<h1>Bad request</h1><p>{html.escape('; '.join(problems))}</p>"
        request_id = secrets.token_urlsafe(12)
        with self._lock:
            self._pending[request_id] = query
        return 200, self._form(request_id)

    def _form(self, request_id: str, error: str = "") -> str:
        name = "Google" if self.flavour == "google" else "Microsoft"
        return f"""<!doctype html><html><head><title>Sign in - {name} stand-in</title></head><body>
<h1>Sign in with your {name} account</h1>
{f'<p role="alert">{html.escape(error)}</p>' if error else ""}
<form method="post" action="{self.authorization_endpoint}">
  <input type="hidden" name="request_id" value="{request_id}">
  <label for="email">Email</label> <input id="email" name="email" type="email">
  <button type="submit" name="action" value="continue">Continue</button>
  <button type="submit" name="action" value="cancel">Cancel</button>
</form></body></html>"""

    def authorization_answer(self, form: dict[str, str]) -> tuple[int, dict[str, str], str]:
        with self._lock:
            query = self._pending.get(form.get("request_id", ""))
        if query is None:
            return 400, {}, "<h1>This sign-in request has expired</h1>"
        if form.get("action") == "cancel":
            params = {"error": "access_denied", "state": query["state"]}
        else:
            user = self.users.get(form.get("email", "").strip())
            if user is None:
                return 200, {}, self._form(form["request_id"], "No account with that address here.")
            code = secrets.token_urlsafe(24)
            with self._lock:
                self._grants[code] = _Grant(
                    client_id=query["client_id"],
                    redirect_uri=query["redirect_uri"],
                    code_challenge=query["code_challenge"],
                    nonce=query["nonce"],
                    user=user,
                    issued_at=time.time(),
                )
            params = {"code": code, "state": query["state"]}
        with self._lock:
            self._pending.pop(form["request_id"], None)
            if self._redirect_tamper:
                params.update(self._redirect_tamper)
                self._redirect_tamper = None
        return 302, {"Location": f"{query['redirect_uri']}?{urlencode(params)}"}, ""

    def token(self, form: dict[str, list[str]], authorization: str | None) -> tuple[int, dict]:
        self.token_requests.append(form)
        one = {name: values[0] for name, values in form.items()}
        client_id, client_secret = one.get("client_id"), one.get("client_secret")
        if authorization and authorization.startswith("Basic "):
            decoded = base64.b64decode(authorization[6:]).decode()
            client_id, _, client_secret = decoded.partition(":")
            client_id, client_secret = unquote(client_id), unquote(client_secret)
        if client_id != self.client_id or client_secret != self.client_secret:
            return 401, {"error": "invalid_client"}
        if one.get("grant_type") != "authorization_code":
            return 400, {"error": "unsupported_grant_type"}
        with self._lock:
            grant = self._grants.pop(one.get("code", ""), None)
        if grant is None or time.time() - grant.issued_at > CODE_LIFETIME_SECONDS:
            return 400, {"error": "invalid_grant", "error_description": "unknown, used or expired code"}
        if grant.client_id != client_id or grant.redirect_uri != one.get("redirect_uri"):
            return 400, {"error": "invalid_grant", "error_description": "redirect_uri differs"}
        verifier = one.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
        if not verifier or challenge.decode() != grant.code_challenge:
            return 400, {"error": "invalid_grant", "error_description": "PKCE verification failed"}
        body = {
            "access_token": secrets.token_urlsafe(24),
            "token_type": "Bearer",
            "expires_in": 3600,
            "scope": "openid email profile",
        }
        tamper, self._token_tamper = self._token_tamper or {}, None
        if not tamper.pop("_omit", False):
            body["id_token"] = self._id_token(grant, tamper)
            self.issued_id_tokens.append(body["id_token"])
        return 200, body

    def _id_token(self, grant: _Grant, tamper: dict[str, Any]) -> str:
        now = int(time.time())
        user = grant.user
        claims = {
            "iss": self.issuer_for(user),
            "sub": user.sub,
            "aud": grant.client_id,
            "exp": now + TOKEN_LIFETIME_SECONDS,
            "iat": now,
            "nonce": grant.nonce,
            "email": user.email,
            "name": user.email.partition("@")[0].title(),
            **user.claims,
        }
        key = self.unpublished_key if tamper.pop("_sign_with", None) == "unpublished" else self.key
        alg = tamper.pop("_alg", "RS256")
        for name, value in tamper.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        if alg == "HS256":
            key = OctKey.import_key(self.client_secret.encode())
            return jwt.encode({"alg": "HS256", "kid": self.key.kid, "typ": "JWT"}, claims, key)
        return jwt.encode({"alg": alg, "kid": key.kid, "typ": "JWT"}, claims, key)


@functools.cache
def _signing_keys() -> tuple[RSAKey, RSAKey]:
    """The published signing key and a forger's key under the same key id, made once per test run
    (an RSA key takes a while to make)."""
    published = RSAKey.generate_key(2048, parameters={"kid": secrets.token_hex(8), "use": "sig"})
    forged = RSAKey.generate_key(2048, parameters={"kid": published.kid, "use": "sig"})
    return published, forged


def _handler_for(provider: StandInProvider):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet in test output
            pass

        def _send(self, status: int, body: str | dict, headers: dict[str, str] | None = None) -> None:
            is_json = isinstance(body, dict)
            data = (json.dumps(body) if is_json else body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json" if is_json else "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _form(self) -> dict[str, list[str]]:
            length = int(self.headers.get("Content-Length") or 0)
            return parse_qs(self.rfile.read(length).decode(), keep_blank_values=True)

        def do_GET(self):
            url = urlsplit(self.path)
            full = f"{provider.root}{url.path}"
            if full == provider.discovery_url:
                return self._send(200, provider.discovery())
            if full == provider.jwks_uri:
                return self._send(200, provider.jwks())
            if full == provider.authorization_endpoint:
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                status, page = provider.authorization_request(query)
                return self._send(status, page)
            return self._send(404, {"error": "not_found"})

        def do_POST(self):
            full = f"{provider.root}{urlsplit(self.path).path}"
            if full == provider.authorization_endpoint:
                form = {k: v[0] for k, v in self._form().items()}
                status, headers, page = provider.authorization_answer(form)
                return self._send(status, page, headers)
            if full == provider.token_endpoint:
                status, body = provider.token(self._form(), self.headers.get("Authorization"))
                return self._send(status, body)
            return self._send(404, {"error": "not_found"})

    return Handler
