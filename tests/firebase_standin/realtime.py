"""The Realtime Database wire protocol (version 5) that the browser SDK speaks over a WebSocket
at ``/.ws?ns=<namespace>&v=5``, served from the same data and listener plumbing as REST.

Envelopes: ``{"t": "c", "d": ...}`` is control (hello, ping/pong), ``{"t": "d", "d": ...}`` is
data: a client request ``{"r": N, "a": action, "b": body}``, its answer ``{"r": N, "b": {"s":
status, "d": data}}``, or a server push ``{"a": action, "b": body}``. Messages longer than 16384
characters travel as a bare frame count followed by that many pieces; a bare ``0`` is a
keep-alive.

Threads: the HTTP handler's thread reads and answers requests; each socket has a writer thread
that drains an outbox, so a write that notifies a slow socket never blocks the database lock,
and that also notices when the socket's ID token runs out.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import queue
import secrets
import socket
import struct
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from . import tree, websocket
from .auth import AuthError, IdToken

if TYPE_CHECKING:
    from .server import StandIn

PROTOCOL_VERSION = "5"
MAX_FRAME_CHARS = 16384
OWNER_CREDENTIAL = "owner"

ACTION_COUNTER = {
    "s": "WS_STATS",
    "auth": "WS_AUTH",
    "gauth": "WS_AUTH",
    "unauth": "WS_UNAUTH",
    "q": "WS_LISTEN",
    "n": "WS_UNLISTEN",
    "p": "WS_PUT",
    "m": "WS_MERGE",
    "g": "WS_GET",
    "o": "WS_ONDISCONNECT_PUT",
    "om": "WS_ONDISCONNECT_MERGE",
    "oc": "WS_ONDISCONNECT_CANCEL",
    "appcheck": "WS_APPCHECK",
    "unappeck": "WS_APPCHECK",
}
WRITE_ACTIONS = ("p", "m")

_STOP = object()
_WAKE = object()


class RequestFailed(Exception):
    """Answers the request with a non-ok status (``permission_denied``, ``invalid_token``...)."""

    def __init__(self, status: str, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


# --- Firebase's node hash (what the SDK sends as "h" with a compare-and-set put) ----------------


def _double_hex(number: float) -> str:
    return struct.pack(">d", float(number)).hex()


def node_hash(value: Any) -> str:
    """The JS SDK's ``Node.hash()`` for a normalized value without priorities: base64 SHA-1 of
    ``type:value`` for leaves, of ``:key:hash`` over the children in key order for objects, and
    the empty string for null."""
    if value is None:
        return ""
    if isinstance(value, dict):
        text = ""
        for key in sorted(value, key=tree.key_sort_key):
            child = node_hash(value[key])
            if child:
                text += f":{key}:{child}"
        return _sha1(text) if text else ""
    if isinstance(value, bool):
        text = f"boolean:{'true' if value else 'false'}"
    elif isinstance(value, int | float):
        text = f"number:{_double_hex(value)}"
    else:
        text = f"string:{value}"
    return _sha1(text)


def _sha1(text: str) -> str:
    return base64.b64encode(hashlib.sha1(text.encode(), usedforsecurity=False).digest()).decode()


def wire_path(path: tree.Path) -> str:
    return "/".join(path)


def split_message(text: str) -> list[str]:
    """What goes on the wire for one message: itself, or a frame count and the pieces."""
    if len(text) <= MAX_FRAME_CHARS:
        return [text]
    pieces = [text[start : start + MAX_FRAME_CHARS] for start in range(0, len(text), MAX_FRAME_CHARS)]
    return [str(len(pieces)), *pieces]


class SocketListener:
    """A listen (``q``) of one socket, registered with StandIn like a REST stream; it turns the
    stream events (``put``/``patch`` relative to the listened path) into data pushes."""

    def __init__(self, session: RealtimeSession, path: tree.Path) -> None:
        self.session = session
        self.namespace = session.namespace
        self.path = path

    def send(self, event: str, data: Any) -> None:
        absolute = self.path + tree.parse_path(data["path"])
        if event == "put":
            self.session.push("d", {"p": wire_path(absolute), "d": data["data"]})
        elif event == "patch":
            self.session.push("m", {"p": wire_path(absolute), "d": data["data"]})

    def end(self, event: str | None = None, data: Any = None) -> None:
        if event == "cancel":
            self.session.listener_cancelled(self)
        elif event is None:
            # The database is going away (down, reset, stop): so does the socket.
            self.session.close()


class RealtimeSession:
    """One browser connection: its auth, listens and onDisconnect operations."""

    _ids = itertools.count(1)

    def __init__(self, standin: StandIn, endpoint: websocket.Endpoint, namespace: str, host: str) -> None:
        self.standin = standin
        self.endpoint = endpoint
        self.namespace = namespace
        self.host = host
        self.id = f"{next(self._ids)}-{secrets.token_hex(4)}"
        self.opened_at = time.time()
        self._lock = threading.Lock()
        self._auth: IdToken | None = None
        self._owner = False
        self._listens: dict[tree.Path, SocketListener] = {}
        self._on_disconnect: list[tuple[str, tree.Path, Any]] = []
        self._outbox: queue.Queue = queue.Queue()
        self._closed = threading.Event()
        self._writer = threading.Thread(target=self._write_loop, name=f"firebase-ws-{self.id}", daemon=True)

    # --- what other threads call ----------------------------------------------------------

    @property
    def uid(self) -> str | None:
        with self._lock:
            return self._auth.uid if self._auth else None

    @property
    def authenticated(self) -> bool:
        with self._lock:
            return self._auth is not None or self._owner

    def push(self, action: str, body: dict[str, Any]) -> None:
        self._outbox.put({"t": "d", "d": {"a": action, "b": body}})

    def revoke_auth(self, status: str, detail: str) -> bool:
        """Forgets the socket's credential and tells the client (``ac``); True if it had one."""
        with self._lock:
            had = self._auth is not None or self._owner
            self._auth, self._owner = None, False
        if had:
            self.push("ac", {"s": status, "d": detail})
        return had

    def listener_cancelled(self, listener: SocketListener) -> None:
        with self._lock:
            if self._listens.get(listener.path) is listener:
                del self._listens[listener.path]
        self.push("c", {"p": wire_path(listener.path)})

    def forget_on_disconnect(self) -> None:
        with self._lock:
            self._on_disconnect.clear()

    def close(self) -> None:
        self._closed.set()
        self._outbox.put(_STOP)
        with contextlib.suppress(OSError):
            self.endpoint.sock.shutdown(socket.SHUT_RDWR)

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {
                "session": self.id,
                "namespace": self.namespace,
                "uid": self._auth.uid if self._auth else None,
                "owner": self._owner,
                "listens": sorted(tree.path_text(path) for path in self._listens),
                "on_disconnect": len(self._on_disconnect),
            }

    # --- the connection's life, on the handler's thread ---------------------------------------

    def run(self) -> None:
        self.standin._register_session(self, True)
        self._outbox.put(
            {
                "t": "c",
                "d": {
                    "t": "h",
                    "d": {"ts": int(time.time() * 1000), "v": PROTOCOL_VERSION, "h": self.host, "s": self.id},
                },
            }
        )
        self._writer.start()
        try:
            for message in self._messages():
                self._handle(message)
        except (websocket.ConnectionClosed, websocket.ProtocolError, OSError, ValueError):
            pass
        finally:
            self._closed.set()
            self._outbox.put(_STOP)
            self._writer.join(timeout=5)
            self._end()

    def _end(self) -> None:
        with self._lock:
            listeners = list(self._listens.values())
            self._listens.clear()
            pending, self._on_disconnect = self._on_disconnect, []
        for listener in listeners:
            self.standin.remove_listener(listener)
        self.standin._register_session(self, False)
        # Firebase runs onDisconnect operations when it loses the connection, whatever the cause.
        for action, path, data in pending:
            try:
                if action == "o":
                    self.standin.write(self.namespace, path, data)
                else:
                    self.standin.update(self.namespace, path, data)
            except tree.DataError:
                pass

    def _messages(self) -> Iterator[dict[str, Any]]:
        while not self._closed.is_set():
            text = self._text(self.endpoint.receive())
            if len(text) <= 6 and text.isdigit():
                count = int(text)
                if count == 0:
                    continue  # keep-alive
                text = "".join(self._text(self.endpoint.receive()) for _ in range(count))
            message = json.loads(text)
            if isinstance(message, dict):
                yield message

    @staticmethod
    def _text(message: str | bytes) -> str:
        return message.decode() if isinstance(message, bytes) else message

    def _write_loop(self) -> None:
        while True:
            timeout = self._seconds_until_expiry()
            try:
                item = self._outbox.get(timeout=timeout)
            except queue.Empty:
                self._expire_auth()
                continue
            if item is _STOP:
                return
            if item is _WAKE:
                continue
            try:
                for piece in split_message(json.dumps(item, separators=(",", ":"), ensure_ascii=False)):
                    self.endpoint.send_text(piece)
            except OSError:
                return

    def _seconds_until_expiry(self) -> float | None:
        with self._lock:
            if self._auth is None:
                return None
            return max(0.0, self._auth.expires - time.time())

    def _expire_auth(self) -> None:
        with self._lock:
            token = self._auth
            if token is None or not token.expired:
                return
            self._auth = None
        self.push("ac", {"s": "expired_token", "d": "Auth token is expired."})

    # --- requests -----------------------------------------------------------------------------

    def _handle(self, message: dict[str, Any]) -> None:
        kind, data = message.get("t"), message.get("d")
        if not isinstance(data, dict):
            return
        if kind == "c":
            if data.get("t") == "p":
                self._outbox.put({"t": "c", "d": {"t": "o", "d": {}}})
            return
        if kind != "d" or "r" not in data:
            return
        number, action, body = data["r"], data.get("a"), data.get("b") or {}
        self.standin._count(self.namespace, ACTION_COUNTER.get(action, f"WS_{str(action).upper()}"))
        if self.standin.latency_seconds:
            time.sleep(self.standin.latency_seconds)
        try:
            result = self._act(action, body)
            answer = {"s": "ok", "d": result if result is not None else ""}
        except RequestFailed as failure:
            answer = {"s": failure.status, "d": failure.detail}
        except tree.DataError as error:
            answer = {"s": "invalid_data", "d": str(error)}
        self._outbox.put({"t": "d", "d": {"r": number, "b": answer}})

    def _act(self, action: Any, body: dict[str, Any]) -> Any:
        if action in ("auth", "gauth"):
            return self._authenticate(action, body.get("cred"))
        if action == "unauth":
            with self._lock:
                self._auth, self._owner = None, False
            return None
        if action in ("s", "appcheck", "unappeck"):
            return None
        path = tree.parse_path(body.get("p") or "/") if isinstance(body.get("p", "/"), str) else None
        if path is None:
            raise RequestFailed("invalid_request", "p must be a path")
        self.standin._record_socket_request(action, self.namespace, tree.path_text(path), self.uid)
        if action == "q":
            return self._listen(path, body)
        if action == "n":
            self._unlisten(path)
            return None
        if action == "g":
            self._refuse_filtered_query(body.get("q"))
            return tree.render(self.standin.read(self.namespace, path))
        if action == "p":
            self._put(path, body)
            return None
        if action == "m":
            self.standin.update(self.namespace, path, body.get("d"))
            return None
        if action in ("o", "om"):
            data = body.get("d")
            if action == "om" and (not isinstance(data, dict) or not data):
                raise tree.DataError("onDisconnect update needs a non-empty object")
            with self._lock:
                self._on_disconnect.append((action, path, data))
            return None
        if action == "oc":
            with self._lock:
                self._on_disconnect = [
                    entry for entry in self._on_disconnect if not tree.is_prefix(path, entry[1])
                ]
            return None
        raise RequestFailed("invalid_action", f"the stand-in does not know action {action!r}")

    def _authenticate(self, action: str, credential: Any) -> dict[str, Any]:
        if credential == OWNER_CREDENTIAL:
            with self._lock:
                self._auth, self._owner = None, True
            self.standin._record_socket_auth(self, action, "ok", None, None)
            return {"auth": None, "expires": None}
        try:
            token = self.standin.auth.verify_id_token(credential)
        except AuthError as error:
            status = "expired_token" if error.message == "TOKEN_EXPIRED" else "invalid_token"
            with self._lock:
                self._auth, self._owner = None, False
            self.standin._record_socket_auth(self, action, status, None, None)
            raise RequestFailed(status, error.detail or error.message) from None
        with self._lock:
            self._auth, self._owner = token, False
        # Wake the writer so that it waits for this token's expiry.
        self._outbox.put(_WAKE)
        self.standin._record_socket_auth(self, action, "ok", token.uid, token.claims)
        return {"auth": token.claims, "expires": token.expires}

    @staticmethod
    def _refuse_filtered_query(query: Any) -> None:
        # A query object holding only the index ("i") still loads all the data.
        if isinstance(query, dict) and set(query) - {"i"}:
            raise RequestFailed(
                "query_not_supported",
                "the stand-in serves whole locations only, not filtered or limited queries",
            )

    def _listen(self, path: tree.Path, body: dict[str, Any]) -> dict[str, Any]:
        if "t" in body:
            # The SDK tags only queries that filter or limit: they would need their own pushes.
            self._refuse_filtered_query(body.get("q") or {"tagged": True})
        listener = SocketListener(self, path)
        with self._lock:
            previous = self._listens.get(path)
            self._listens[path] = listener
        if previous is not None:
            self.standin.remove_listener(previous)
        self.standin.add_listener(self.namespace, path, listener)
        return {}

    def _unlisten(self, path: tree.Path) -> None:
        with self._lock:
            listener = self._listens.pop(path, None)
        if listener is not None:
            self.standin.remove_listener(listener)

    def _put(self, path: tree.Path, body: dict[str, Any]) -> None:
        expected = body.get("h")
        if expected is None:
            self.standin.write(self.namespace, path, body.get("d"))
            return
        written = self.standin.write_if(
            self.namespace, path, body.get("d"), lambda current: node_hash(current) == expected
        )
        if not written:
            raise RequestFailed("datastale", "the data changed since the client last saw it")
