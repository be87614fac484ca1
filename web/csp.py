"""Content-Security-Policy for our pages: what a page may load, run and talk to.

Our pages run only our own scripts (static/peardeck/, the vendored Firebase SDK), so a string a
student manages to get into a page can never run as script, even where an escaping bug let it
in. The one inline script, the student page's import map, carries the request's nonce
(`request.csp_nonce`; the JSON in `json_script` elements is data, which CSP does not run).

- scripts and frames: ours, and with Firebase on the databases' hosts (the Firebase SDK's
  long-polling transport loads its frames as scripts from them, and posts from a hidden frame);
- connections: our server (HTTP and its WebSocket), the Firebase databases (and the hosts they
  redirect to, in the same domain), Firebase Auth's token endpoints, and the emulator when set;
- images: anywhere over http(s) (a question's image is any address a teacher gives), data: and
  blob: (drawings);
- styles: ours, and inline style attributes (the pages set colours that way);
- nothing may frame a page, no plugins, no <base>; forms post only to us, and signing in with a
  school account may go on to the configured providers.

The API's interactive docs (/api/docs load Swagger from its CDN) and Django's admin keep their
own needs and get no policy here.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlparse

from django.conf import settings

from integrations import firebase

_UNGUARDED_PREFIXES = ("/api/", "/admin/")
_FIREBASE_AUTH = ("https://identitytoolkit.googleapis.com", "https://securetoken.googleapis.com")


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.csp_nonce = secrets.token_urlsafe(16)
        response = self.get_response(request)
        content_type = response.get("Content-Type", "")
        if content_type.startswith("text/html") and not request.path.startswith(_UNGUARDED_PREFIXES):
            response.headers.setdefault("Content-Security-Policy", policy(request, request.csp_nonce))
        return response


def policy(request, nonce: str) -> str:
    databases = _firebase_database_sources() if firebase.is_enabled() else []
    emulator = _emulator_sources() if firebase.is_enabled() else []
    websocket = ("wss" if request.is_secure() else "ws") + "://" + request.get_host()
    auth = list(_FIREBASE_AUTH) if firebase.is_enabled() else []
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'", f"'nonce-{nonce}'", *databases, *emulator],
        "connect-src": ["'self'", websocket, *databases, *auth, *emulator],
        # The SDK's long-polling transport sends its requests from a hidden frame of the database.
        "frame-src": ["'self'", *databases, *emulator],
        "img-src": ["'self'", "https:", "http:", "data:", "blob:"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'", *_sign_in_providers()],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(dict.fromkeys(sources))}" for name, sources in directives.items())


def _firebase_database_sources() -> list[str]:
    """Each configured database's host, widened to its domain: a database may hand the SDK over
    to another host of the same domain (`s-….firebaseio.com`)."""
    sources = []
    for url in settings.FIREBASE_DATABASE_URLS or []:
        host = urlparse(url.strip()).hostname
        if not host:
            continue
        domain = host.split(".", 1)[1] if host.count(".") >= 2 else host
        sources += [f"https://*.{domain}", f"wss://*.{domain}"]
    return sources


def _sign_in_providers() -> list[str]:
    """Where signing in with a school account sends the browser: a form posts to us, and we
    redirect it to the provider, which form-action governs too. Its discovery document lives at
    the same origin as its authorization page."""
    origins = []
    for config in (settings.OIDC_PROVIDERS or {}).values():
        parsed = urlparse(config["discovery_url"])
        origins.append(f"{parsed.scheme}://{parsed.netloc}")
    return origins


def _emulator_sources() -> list[str]:
    host = settings.FIREBASE_DATABASE_EMULATOR_HOST
    return [f"http://{host}", f"ws://{host}"] if host else []
