"""The only module that touches firebase-admin.

Firebase is off unless FIREBASE_DATABASE_URLS names at least one database. When it is off nothing
here creates an app, opens a connection or costs more than a settings lookup. The app is created
on first use from the settings of that moment (tests change settings between tests; `reset()`
drops the app).

Each URL in FIREBASE_DATABASE_URLS is one shard (one Realtime Database). A session lives on one
shard, chosen by a stable hash of its id, so adding a shard moves sessions: only do it between
school days. With FIREBASE_DATABASE_EMULATOR_HOST set, every `https://<ns>...` URL is sent to that
host instead (namespace `<ns>`), as the Firebase emulator expects.

Data layout, per shard (the rules in database.rules.json enforce it):

    /sessions/<session_id>                          the state a student needs (backend writes)
    /inbox/<session_id>/<uid>/<submission_id>       {question_id, answer, at} (only that student writes)
    /sent/<session_id>/<uid>                        {id, at}: the student's last entry (their rate)
    /acks/<session_id>/<uid>/<submission_id>        the outcome of that submission (only they read)
    /probes/<location>                              the probe's scratch node (backend only)

`<uid>` is `student-<student_id>`, the uid of the student's custom token. Inboxes sit in their own
tree, not under /sessions, so that the worker's streaming listener on /inbox sees only pending
answers, never the state documents it writes itself.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlparse

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from observability import metrics

log = logging.getLogger(__name__)

APP_NAME = "peardeck"
# The Firebase JS SDK that student pages load from static/vendor/firebase/<version>/
# (scripts/vendor-firebase-sdk). Its auth and database modules import the app module by this
# CDN address, which the page's import map sends back to our copy.
BROWSER_SDK_VERSION = "13.2.0"
_BROWSER_SDK_CDN = "https://www.gstatic.com/firebasejs/{version}/{module}.js"
_BROWSER_SDK_MODULES = ("app", "auth", "database")
# The SDK waits up to this long for one answer (a server that never answers fails after twice it).
HTTP_TIMEOUT_SECONDS = 10.0
STUDENT_UID_PREFIX = "student-"
_STUDENT_UID = re.compile(r"^student-([1-9][0-9]{0,17})$")

_lock = threading.Lock()
_apps: dict[tuple, object] = {}


@dataclass(frozen=True)
class _Config:
    urls: tuple[str, ...]
    credentials_file: str
    emulator_host: str
    http_timeout: float


def is_enabled() -> bool:
    return bool(_urls())


def _urls() -> tuple[str, ...]:
    return tuple(url.strip().rstrip("/") for url in (settings.FIREBASE_DATABASE_URLS or []) if url.strip())


def _config(http_timeout: float) -> _Config:
    return _Config(
        urls=_urls(),
        credentials_file=settings.FIREBASE_CREDENTIALS_FILE or "",
        emulator_host=settings.FIREBASE_DATABASE_EMULATOR_HOST or "",
        http_timeout=http_timeout,
    )


def shard_count() -> int:
    return len(_urls())


def shard_of(session_id: int) -> int:
    """The shard a session lives on: stable across processes and restarts (not Python's hash())."""
    count = shard_count()
    if count == 0:
        raise ImproperlyConfigured("Firebase is off: FIREBASE_DATABASE_URLS is empty")
    digest = hashlib.sha256(str(int(session_id)).encode()).digest()
    return int.from_bytes(digest[:8], "big") % count


def public_url(shard: int) -> str:
    """The database URL as a browser should use it (the configured one, never the emulator's)."""
    return _urls()[shard]


def _sdk_url(config: _Config, shard: int) -> str:
    url = config.urls[shard]
    if not config.emulator_host:
        return url
    parsed = urlparse(url)
    if parsed.scheme == "http":
        return url  # already an emulator URL with ?ns=
    namespace = parsed.netloc.split(".")[0]
    return f"http://{config.emulator_host}/?ns={namespace}"


def app(*, http_timeout: float = HTTP_TIMEOUT_SECONDS):
    """The firebase-admin app for the current settings, created on first use."""
    import firebase_admin
    from firebase_admin import credentials

    config = _config(http_timeout)
    if not config.urls:
        raise ImproperlyConfigured("Firebase is off: FIREBASE_DATABASE_URLS is empty")
    with _lock:
        existing = _apps.get(_key(config))
        if existing is not None:
            return existing
        # Without a file, Application Default Credentials (the pod's service account).
        credential = credentials.Certificate(config.credentials_file) if config.credentials_file else None
        created = firebase_admin.initialize_app(
            credential,
            options={"databaseURL": _sdk_url(config, 0), "httpTimeout": http_timeout},
            name=f"{APP_NAME}-{len(_apps)}-{hashlib.sha256(repr(config).encode()).hexdigest()[:8]}",
        )
        _apps[_key(config)] = created
        return created


def _key(config: _Config) -> tuple:
    return (config.urls, config.credentials_file, config.emulator_host, config.http_timeout)


def reset() -> None:
    """Deletes every app made here; the next use builds one from the settings of that moment."""
    import firebase_admin

    with _lock:
        for made in _apps.values():
            firebase_admin.delete_app(made)
        _apps.clear()


def reference(path: str, *, shard: int, http_timeout: float = HTTP_TIMEOUT_SECONDS):
    from firebase_admin import db

    config = _config(http_timeout)
    return db.reference(path, app=app(http_timeout=http_timeout), url=_sdk_url(config, shard))


def update(path: str, values: dict, *, shard: int) -> None:
    """One multi-path write: every key (a slash path under `path`) is applied atomically."""
    reference(path, shard=shard).update(values)


def listen(path: str, callback: Callable, *, shard: int):
    """Starts a streaming listener; returns the SDK's ListenerRegistration.

    As `db.Reference.listen` does, but the stream is read by ChunkedEventStream: the SDK's own
    client reads it one character at a time (about 4 µs a byte here), so one 1.5 MB inbox entry
    held the shard's only listener, and every other student's answer behind it, for 6 s.
    """
    import requests
    from firebase_admin import db

    ref = reference(path, shard=shard)
    # firebase-admin 7.7.0's own listen(), with our stream reader in place of its SSEClient.
    client = ref._client
    url = client.base_url + ref._add_suffix()
    try:
        stream = _event_stream_class()(url, client.create_listener_session(), params=client.params)
    except requests.exceptions.RequestException as error:
        raise db._Client.handle_rtdb_error(error) from error
    return db.ListenerRegistration(callback, stream)


_READ_SIZE = 64 * 1024
_END_OF_EVENT = re.compile(r"\r\n\r\n|\r\r|\n\n")


@functools.cache
def _event_stream_class():
    """Made on first use: firebase-admin is imported only when Firebase is on."""
    from firebase_admin import _sseclient

    class ChunkedEventStream(_sseclient.SSEClient):
        """firebase-admin's SSE client, reading whatever has arrived (up to 64 KiB at a time)
        instead of one character per call, and finding the end of an event with one search of
        what came in. Reconnection, retry, `Last-Event-ID` and the SDK's special events behave
        as in the SDK's client."""

        def _connect(self):
            if not self.should_connect:
                raise StopIteration()
            if self.last_id:
                self.requests_kwargs["headers"]["Last-Event-ID"] = self.last_id
            self.resp = self.session.get(self.url, stream=True, **self.requests_kwargs)
            self.resp.raise_for_status()
            self.resp_iterator = _arrivals(self.resp)
            self.buf = ""

        def __next__(self):
            import requests

            pieces = [self.buf] if self.buf else []
            scanned = 0  # characters of `pieces` already searched (less 3, for a split separator)
            while True:
                text = "".join(pieces)
                found = _END_OF_EVENT.search(text, max(0, scanned - 3))
                if found:
                    break
                scanned = len(text)
                pieces = [text]
                try:
                    pieces.append(next(self.resp_iterator))
                except (StopIteration, requests.RequestException):
                    time.sleep(self.retry / 1000.0)
                    self._connect()
                    pieces, scanned = [], 0  # a half-read event is dropped, as the SDK does
            self.buf = text[found.end() :]
            event = _sseclient.Event.parse(text[: found.start()])
            if event.data == "credential is no longer valid":
                self._connect()
                return None
            if event.data == "null":
                return None
            if event.retry:
                self.retry = event.retry
            if event.event_id:
                self.last_id = event.event_id
            return event

    return ChunkedEventStream


def _arrivals(response):
    """The text of a streamed response as it arrives, decoded as UTF-8 across reads."""
    import codecs
    import http.client

    import requests
    import urllib3

    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    while True:
        try:
            data = response.raw.read1(_READ_SIZE)
        except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as exc:
            raise requests.ConnectionError(exc) from exc
        if not data:
            return
        text = decoder.decode(data)
        if text:
            yield text


def listener_alive(registration) -> bool:
    """The SDK's listener thread dies when a reconnection fails; then no event comes any more."""
    thread = getattr(registration, "_thread", None)
    return thread is not None and thread.is_alive()


def error_reason(exc: BaseException) -> str:
    """A small fixed word for a failure, fit for a metric label."""
    from firebase_admin import exceptions

    message = str(exc).lower()
    if "timed out" in message or isinstance(exc, exceptions.DeadlineExceededError | TimeoutError):
        return "timeout"
    if isinstance(exc, exceptions.UnavailableError | ConnectionError):
        return "unavailable"
    if isinstance(exc, exceptions.UnauthenticatedError):
        return "unauthenticated"
    if isinstance(exc, exceptions.PermissionDeniedError):
        return "permission_denied"
    if isinstance(exc, exceptions.InvalidArgumentError | ValueError):
        return "invalid"
    if isinstance(exc, exceptions.FirebaseError):
        return "firebase_error"
    return "error"


# --- students ---------------------------------------------------------------------------------


def student_uid(student_id: int) -> str:
    return f"{STUDENT_UID_PREFIX}{int(student_id)}"


def student_id_of_uid(uid: str) -> int | None:
    match = _STUDENT_UID.match(uid or "")
    return int(match.group(1)) if match else None


def paths_for(session_id: int, student_id: int) -> dict[str, str]:
    uid = student_uid(student_id)
    return {
        "state": f"/sessions/{session_id}",
        "inbox": f"/inbox/{session_id}/{uid}",
        "acks": f"/acks/{session_id}/{uid}",
        # The student's marker {id, at} that each answer moves; the rules rate-limit on it.
        "sent": f"/sent/{session_id}/{uid}",
    }


def _web_config() -> dict | None:
    raw = settings.FIREBASE_WEB_CONFIG or ""
    if not raw.strip():
        return None
    try:
        parsed = json.loads(raw)
    except ValueError as exc:
        raise ImproperlyConfigured("FIREBASE_WEB_CONFIG must be a JSON object") from exc
    if not isinstance(parsed, dict):
        raise ImproperlyConfigured("FIREBASE_WEB_CONFIG must be a JSON object")
    return parsed


def student_credentials(student) -> dict | None:
    """What a student's browser needs to use Firebase, or None when Firebase is off.

    The custom token's uid is `student-<id>`; its claims `session` (the session id, a string,
    as rule path variables are) and `role` ("student") are what database.rules.json checks.
    """
    if not is_enabled():
        return None
    try:
        return _student_credentials(student)
    except Exception:
        # The student has joined; without Firebase they still have the WebSocket and HTTP.
        log.exception("could not mint Firebase credentials for a student")
        metrics.FIREBASE_ERRORS.labels(operation="token", reason="error").inc()
        return None


def _student_credentials(student) -> dict:
    from firebase_admin import auth

    session_id = student.session_id
    shard = shard_of(session_id)
    token = auth.create_custom_token(
        student_uid(student.pk),
        {"session": str(session_id), "role": "student"},
        app=app(),
    )
    web_config = dict(_web_config() or {})
    web_config["databaseURL"] = public_url(shard)
    credentials = {
        "token": token.decode() if isinstance(token, bytes) else token,
        "config": web_config,
        "uid": student_uid(student.pk),
        "paths": paths_for(session_id, student.pk),
    }
    emulator = settings.FIREBASE_DATABASE_EMULATOR_HOST
    if emulator:
        # Development and tests: the browser signs in and connects there too (tests/firebase_standin
        # serves the Auth and Realtime Database emulator protocols on one port).
        host, _, port = emulator.rpartition(":")
        credentials["emulator"] = {"host": host, "port": int(port), "auth_url": f"http://{emulator}"}
    return credentials


# --- the browser SDK --------------------------------------------------------------------------


def browser_sdk() -> dict | None:
    """For a student page: where the vendored SDK modules are served, and the import map that
    resolves the modules' own imports of the app module to our copy. None when Firebase is off."""
    if not is_enabled():
        return None
    from django.templatetags.static import static

    version = BROWSER_SDK_VERSION
    local = {
        module: static(f"vendor/firebase/{version}/firebase-{module}.js") for module in _BROWSER_SDK_MODULES
    }
    cdn_app = _BROWSER_SDK_CDN.format(version=version, module="firebase-app")
    return {"modules": local, "import_map": {"imports": {cdn_app: local["app"]}}}
