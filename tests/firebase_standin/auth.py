"""The Firebase Auth emulator's share of the stand-in: custom-token sign-in, account lookup and
token refresh, as the browser SDK (firebase-auth 13.2.0) calls them after
``connectAuthEmulator(auth, "http://host:port")``:

- ``POST /identitytoolkit.googleapis.com/v1/accounts:signInWithCustomToken?key=K``
  ``{token, returnSecureToken}`` -> ``{kind, idToken, refreshToken, expiresIn, isNewUser}``
- ``POST /identitytoolkit.googleapis.com/v1/accounts:lookup?key=K`` ``{idToken}`` -> ``{users: [...]}``
- ``POST /securetoken.googleapis.com/v1/token?key=K`` (form: grant_type=refresh_token,
  refresh_token) -> ``{access_token, expires_in, token_type, refresh_token, id_token, user_id,
  project_id}``

Errors come back as Google sends them, ``{"error": {"code": 400, "message": "INVALID_CUSTOM_TOKEN
: why", ...}}``; the SDK turns the part before " : " into ``auth/invalid-custom-token`` and the
rest into the error's message.

ID tokens are unsigned JWTs (``alg: none``) like the official emulator's: the browser only decodes
them, and the database side of the stand-in accepts only tokens it issued itself.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

IDENTITY_TOOLKIT_PREFIX = "/identitytoolkit.googleapis.com/v1/"
SECURE_TOKEN_PREFIX = "/securetoken.googleapis.com/v1/"
# The audience firebase-admin puts in custom tokens (firebase_admin._token_gen.FIREBASE_AUDIENCE).
CUSTOM_TOKEN_AUDIENCE = (
    "https://identitytoolkit.googleapis.com/google.identity.identitytoolkit.v1.IdentityToolkit"
)
# Claims of a custom token's payload that are not the developer's.
RESERVED_CUSTOM_TOKEN_KEYS = {"iss", "sub", "aud", "uid", "iat", "exp", "claims", "tenant_id"}


class AuthError(Exception):
    """An Identity Toolkit / Secure Token error: ``message`` is Google's upper-case code,
    ``detail`` the free text after it."""

    def __init__(self, message: str, detail: str = "", status: int = 400) -> None:
        super().__init__(f"{message}: {detail}" if detail else message)
        self.message = message
        self.detail = detail
        self.status = status

    def body(self) -> dict[str, Any]:
        text = f"{self.message} : {self.detail}" if self.detail else self.message
        return {
            "error": {
                "code": self.status,
                "message": text,
                "errors": [{"message": text, "reason": "invalid", "domain": "global"}],
                "status": "INVALID_ARGUMENT",
            }
        }


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def decode_jwt(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """(header, payload, signed part, signature) of a compact JWT, unverified."""
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3:
        raise ValueError("not a JWT: it needs three dot-separated parts")
    header, payload = (json.loads(b64url_decode(part)) for part in parts[:2])
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise ValueError("JWT header and payload must be JSON objects")
    return header, payload, f"{parts[0]}.{parts[1]}".encode(), b64url_decode(parts[2])


def unsigned_jwt(payload: dict[str, Any]) -> str:
    header = b64url_encode(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    body = b64url_encode(json.dumps(payload, separators=(",", ":")).encode())
    return f"{header}.{body}."


@dataclass
class IdToken:
    token: str
    uid: str
    claims: dict[str, Any]
    expires: int

    @property
    def expired(self) -> bool:
        return time.time() >= self.expires


@dataclass
class User:
    uid: str
    custom_claims: dict[str, Any]
    created_ms: int
    last_login_ms: int
    auth_time: int = 0
    refresh_tokens: set[str] = field(default_factory=set)


class AuthEmulator:
    """Users signed in with custom tokens, and the ID and refresh tokens issued to them.

    ``custom_token_keys``: PEM public keys; when given, a custom token must be RS256-signed by
    one of them, carry firebase-admin's audience and not be expired. Without keys any custom
    token with a ``uid`` is accepted, as the official emulator does.
    """

    def __init__(
        self,
        project_id: str,
        *,
        custom_token_keys: list[bytes | str] | None = None,
        id_token_seconds: int = 3600,
    ) -> None:
        self.project_id = project_id
        self.id_token_seconds = id_token_seconds
        self._keys: list[rsa.RSAPublicKey] = []
        for pem in custom_token_keys or []:
            key = serialization.load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
            if not isinstance(key, rsa.RSAPublicKey):
                raise ValueError("custom token keys must be RSA public keys")
            self._keys.append(key)
        self._lock = threading.Lock()
        self._users: dict[str, User] = {}
        self._refresh_tokens: dict[str, str] = {}
        self._id_tokens: dict[str, IdToken] = {}

    @property
    def verifies_signatures(self) -> bool:
        return bool(self._keys)

    def reset(self) -> None:
        with self._lock:
            self._users.clear()
            self._refresh_tokens.clear()
            self._id_tokens.clear()

    # --- the endpoints ------------------------------------------------------------------------

    def sign_in_with_custom_token(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("tenantId"):
            raise AuthError("OPERATION_NOT_ALLOWED", "the stand-in has no tenants")
        uid, claims = self._verify_custom_token(body.get("token"))
        now_ms = int(time.time() * 1000)
        with self._lock:
            user = self._users.get(uid)
            is_new = user is None
            if user is None:
                user = self._users[uid] = User(uid, claims, now_ms, now_ms)
            user.custom_claims = claims
            user.last_login_ms = now_ms
            user.auth_time = now_ms // 1000
            refresh_token = secrets.token_urlsafe(48)
            user.refresh_tokens.add(refresh_token)
            self._refresh_tokens[refresh_token] = uid
            id_token = self._issue(user)
        return {
            "kind": "identitytoolkit#VerifyCustomTokenResponse",
            "idToken": id_token.token,
            "refreshToken": refresh_token,
            "expiresIn": str(self.id_token_seconds),
            "isNewUser": is_new,
        }

    def lookup(self, body: dict[str, Any]) -> dict[str, Any]:
        token = self.verify_id_token(body.get("idToken"), error="INVALID_ID_TOKEN")
        with self._lock:
            user = self._users.get(token.uid)
        if user is None:
            raise AuthError("USER_NOT_FOUND")
        entry: dict[str, Any] = {
            "localId": user.uid,
            "providerUserInfo": [],
            "emailVerified": False,
            "disabled": False,
            "createdAt": str(user.created_ms),
            "lastLoginAt": str(user.last_login_ms),
            "validSince": str(user.created_ms // 1000),
        }
        if user.custom_claims:
            entry["customAttributes"] = json.dumps(user.custom_claims)
        return {"kind": "identitytoolkit#GetAccountInfoResponse", "users": [entry]}

    def refresh(self, form: dict[str, str]) -> dict[str, Any]:
        if form.get("grant_type") != "refresh_token":
            raise AuthError("INVALID_GRANT_TYPE")
        refresh_token = form.get("refresh_token")
        if not refresh_token:
            raise AuthError("MISSING_REFRESH_TOKEN")
        with self._lock:
            uid = self._refresh_tokens.get(refresh_token)
            user = self._users.get(uid) if uid else None
            if user is None:
                raise AuthError("INVALID_REFRESH_TOKEN")
            id_token = self._issue(user)
        return {
            "access_token": id_token.token,
            "expires_in": str(self.id_token_seconds),
            "token_type": "Bearer",
            "refresh_token": refresh_token,
            "id_token": id_token.token,
            "user_id": user.uid,
            "project_id": self.project_id,
        }

    # --- tokens -------------------------------------------------------------------------------

    def verify_id_token(self, token: Any, *, error: str = "INVALID_ID_TOKEN") -> IdToken:
        """An ID token this stand-in issued and that has not expired."""
        with self._lock:
            issued = self._id_tokens.get(token) if isinstance(token, str) else None
        if issued is None:
            raise AuthError(error, "not an ID token issued by this stand-in")
        if issued.expired:
            raise AuthError("TOKEN_EXPIRED", "the ID token has expired")
        return issued

    def issued(self, token: Any) -> IdToken | None:
        with self._lock:
            return self._id_tokens.get(token) if isinstance(token, str) else None

    def revoke_refresh_tokens(self, uid: str) -> None:
        """Signs a user out everywhere: their refresh tokens stop working."""
        with self._lock:
            user = self._users.get(uid)
            for token in user.refresh_tokens if user else ():
                self._refresh_tokens.pop(token, None)

    def _issue(self, user: User) -> IdToken:
        now = int(time.time())
        expires = now + self.id_token_seconds
        claims = {
            **user.custom_claims,
            "iss": f"https://securetoken.google.com/{self.project_id}",
            "aud": self.project_id,
            "auth_time": user.auth_time,
            "user_id": user.uid,
            "sub": user.uid,
            "iat": now,
            "exp": expires,
            "firebase": {"identities": {}, "sign_in_provider": "custom"},
        }
        # Two tokens minted in the same second for the same user must still differ.
        token = unsigned_jwt({**claims, "jti": secrets.token_hex(8)})
        issued = IdToken(token, user.uid, claims, expires)
        self._id_tokens[token] = issued
        return issued

    def _verify_custom_token(self, token: Any) -> tuple[str, dict[str, Any]]:
        if not isinstance(token, str) or not token:
            raise AuthError("MISSING_CUSTOM_TOKEN")
        try:
            header, payload, signed, signature = decode_jwt(token)
        except ValueError as error:
            raise AuthError("INVALID_CUSTOM_TOKEN", str(error)) from None
        if self._keys:
            if header.get("alg") != "RS256":
                raise AuthError("INVALID_CUSTOM_TOKEN", f"expected an RS256 token, got {header.get('alg')!r}")
            if not any(self._signed_by(key, signed, signature) for key in self._keys):
                raise AuthError("INVALID_CUSTOM_TOKEN", "the signature does not match any known key")
            if payload.get("aud") != CUSTOM_TOKEN_AUDIENCE:
                raise AuthError("INVALID_CUSTOM_TOKEN", f"wrong audience {payload.get('aud')!r}")
            exp = payload.get("exp")
            if not isinstance(exp, int | float) or exp <= time.time():
                raise AuthError("INVALID_CUSTOM_TOKEN", "the custom token has expired")
        uid = payload.get("uid")
        if not isinstance(uid, str) or not 1 <= len(uid) <= 128:
            raise AuthError("INVALID_CUSTOM_TOKEN", "the uid must be a string of 1 to 128 characters")
        claims = payload.get("claims") or {}
        if not isinstance(claims, dict):
            raise AuthError("INVALID_CUSTOM_TOKEN", "claims must be an object")
        return uid, claims

    @staticmethod
    def _signed_by(key: rsa.RSAPublicKey, signed: bytes, signature: bytes) -> bool:
        try:
            key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return False
        return True
