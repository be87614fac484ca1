"""The Realtime Database wire protocol (version 5) that the browser SDK speaks, served from the
same data and listener plumbing as REST. One ``RealtimeSession`` is one SDK connection: its auth,
listens and onDisconnect operations. It does not care which transport carries its messages: a
WebSocket at ``/.ws?ns=<namespace>&v=5`` (``websocket_transport.py``) or long polling at
``/.lp`` (``longpoll.py``); both hand it whole messages and take whole messages from it.

Envelopes: ``{"t": "c", "d": ...}`` is control (hello, ping/pong, the switch from long polling
to a WebSocket), ``{"t": "d", "d": ...}`` is data: a client request ``{"r": N, "a": action, "b":
body}``, its answer ``{"r": N, "b": {"s": status, "d": data}}``, or a server push ``{"a": action,
"b": body}``.

Switching transports: the SDK that started on long polling opens a WebSocket with
``s=<session id>`` (from the hello) next to it. The server offers it the session with a control
``a``; the client checks it with two pings, then sends ``a`` on the socket and ``n`` (end of
transmission) over long polling, after whatever it had still queued there. Both sides keep their
order the same way. The server writes to the socket from then on and ends the long poll with its
own ``n`` after whatever was still queued there (the client holds what the socket brings until
that ``n`` arrives). It runs what the socket brings only once the client's ``n`` has come over
long polling, so a request sent before the switch never runs after one sent after it; and it
closes the long poll only then, since a client told to close stops sending what it had queued.

Threads: the thread that receives a message (the WebSocket's handler thread, or the HTTP request
that carried a long-poll piece) runs it; writes reach a session's transport through a queue, so
a write that notifies a slow client never blocks the database lock. A timer per session notices
when its ID token runs out.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import secrets
import struct
import threading
import time
from typing import TYPE_CHECKING, Any, Protocol

from . import tree
from .auth import AuthError, IdToken

if TYPE_CHECKING:
    from .server import StandIn

PROTOCOL_VERSION = "5"
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


class Transport(Protocol):
    """What carries a session's messages: ``deliver`` queues one whole message for the client
    (never blocking), ``close`` ends the connection from the server's side."""

    name: str

    def deliver(self, message: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


def hello(session_id: str, host: str) -> dict[str, Any]:
    """The server's first message on a new connection."""
    now_ms = int(time.time() * 1000)
    return {"t": "c", "d": {"t": "h", "d": {"ts": now_ms, "v": PROTOCOL_VERSION, "h": host, "s": session_id}}}


PONG = {"t": "c", "d": {"t": "o", "d": {}}}
SWITCH_OFFER = {"t": "c", "d": {"t": "a", "d": {}}}
END_OF_TRANSMISSION = {"t": "c", "d": {"t": "n", "d": {}}}


class RealtimeSession:
    """One browser connection: its auth, listens and onDisconnect operations, and the transport
    that carries it now (``attach``; a WebSocket may take over from long polling, ``switch_to``).
    The session ends (listens dropped, onDisconnect operations run) when its current transport
    ends, whoever ended it."""

    _ids = itertools.count(1)

    def __init__(self, standin: StandIn, namespace: str, host: str) -> None:
        self.standin = standin
        self.namespace = namespace
        self.host = host
        self.id = f"{next(self._ids)}-{secrets.token_hex(4)}"
        self.opened_at = time.time()
        self._lock = threading.Lock()
        self._transport: Transport | None = None
        self._ended = False
        self._auth: IdToken | None = None
        self._owner = False
        self._expiry: threading.Timer | None = None
        self._listens: dict[tree.Path, SocketListener] = {}
        self._on_disconnect: list[tuple[str, tree.Path, Any]] = []
        # A WebSocket offered this session (switch from long polling) and not yet switched to.
        self._candidate: Transport | None = None
        # Set while no earlier transport may still bring the client's messages: after a switch,
        # once the client's "n" has come over the old one (or the old one is gone).
        self._drained = threading.Event()
        self._drained.set()
        self._draining: Transport | None = None

    # --- transports ---------------------------------------------------------------------------

    def attach(self, transport: Transport) -> None:
        """Opens the session on its first transport, which is sent the hello first."""
        with self._lock:
            self._transport = transport
        transport.deliver(hello(self.id, self.host))
        self.standin._register_session(self, True)

    @property
    def transport(self) -> Transport | None:
        with self._lock:
            return self._transport

    @property
    def ended(self) -> bool:
        with self._lock:
            return self._ended

    def offer_switch(self, candidate: Transport) -> None:
        """A WebSocket asked to carry this session: it is sent ``a``; the switch happens on the
        client's ``a`` there or its ``n`` here, whichever the server reads first."""
        with self._lock:
            self._candidate = candidate
        candidate.deliver(SWITCH_OFFER)

    def switch_to(self, successor: Transport) -> bool:
        """Moves the session onto ``successor`` (a WebSocket that the client checked): the old
        transport gets ``n`` after what it still holds, then finishes; everything after goes to
        the successor. False when the session is gone or already there."""
        with self._lock:
            previous = self._transport
            if self._ended or previous is None or previous is successor:
                return False
            # Under the lock: no message can slip between the ``n`` and the switch.
            previous.deliver(END_OF_TRANSMISSION)
            self._transport = successor
            self._candidate = None
            self._draining = previous
            self._drained.clear()
        finish = getattr(previous, "finish", None)
        if finish is not None:
            finish()
        return True

    def wait_until_drained(self, timeout: float) -> None:
        """Holds the new transport's messages until the old one can bring no more."""
        self._drained.wait(timeout)

    def _old_transport_done(self, transport: Transport) -> None:
        with self._lock:
            if transport is not self._draining:
                return
            self._draining = None
            self._drained.set()
        client_done = getattr(transport, "client_done", None)
        if client_done is not None:
            client_done()

    def transport_ended(self, transport: Transport) -> None:
        """A transport closed; the session ends with it unless another one has taken over."""
        with self._lock:
            current = transport is self._transport
            if transport is self._candidate:
                self._candidate = None
        self._old_transport_done(transport)
        if current:
            self.end()

    def deliver(self, message: dict[str, Any]) -> None:
        with self._lock:
            if self._ended or self._transport is None:
                return
            self._transport.deliver(message)

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
        self.deliver({"t": "d", "d": {"a": action, "b": body}})

    def revoke_auth(self, status: str, detail: str) -> bool:
        """Forgets the session's credential and tells the client (``ac``); True if it had one."""
        with self._lock:
            had = self._auth is not None or self._owner
            self._set_auth(None, owner=False)
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
        """Ends the session from the server's side (database down, reset, stop)."""
        transport = self.transport
        if transport is not None:
            transport.close()
        self.end()

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {
                "session": self.id,
                "namespace": self.namespace,
                "transport": self._transport.name if self._transport else None,
                "uid": self._auth.uid if self._auth else None,
                "owner": self._owner,
                "listens": sorted(tree.path_text(path) for path in self._listens),
                "on_disconnect": len(self._on_disconnect),
            }

    def end(self) -> None:
        """Drops the listens and runs the onDisconnect operations, once."""
        with self._lock:
            if self._ended:
                return
            self._ended = True
            listeners = list(self._listens.values())
            self._listens.clear()
            pending, self._on_disconnect = self._on_disconnect, []
            self._set_auth(None, owner=False)
            candidate, self._candidate = self._candidate, None
        if candidate is not None:
            candidate.close()  # a WebSocket offered a session that is gone
        self._drained.set()
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

    # --- the ID token's life ------------------------------------------------------------------

    def _set_auth(self, token: IdToken | None, *, owner: bool) -> None:
        """Holds ``self._lock``. Replaces the credential and the timer that watches its expiry."""
        self._auth, self._owner = token, owner
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        if token is not None:
            self._expiry = threading.Timer(max(0.0, token.expires - time.time()), self._expire_auth, (token,))
            self._expiry.daemon = True
            self._expiry.start()

    def _expire_auth(self, token: IdToken) -> None:
        with self._lock:
            if self._auth is not token:
                return  # replaced or dropped meanwhile
            self._auth = None
            self._expiry = None
        self.push("ac", {"s": "expired_token", "d": "Auth token is expired."})

    # --- requests -----------------------------------------------------------------------------

    def receive(self, message: Any, via: Transport | None = None) -> None:
        """Runs one whole message from the client, on the caller's thread; ``via`` is the
        transport that brought it."""
        if not isinstance(message, dict) or self.ended:
            return
        kind, data = message.get("t"), message.get("d")
        if not isinstance(data, dict):
            return
        if kind == "c":
            if data.get("t") == "p":
                self.deliver(PONG)
            elif data.get("t") == "n":
                # The client's end of transmission on the old transport: it has switched, and
                # everything it sent there has now run.
                with self._lock:
                    candidate = self._candidate
                if candidate is not None:
                    self.switch_to(candidate)
                if via is not None:
                    self._old_transport_done(via)
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
        self.deliver({"t": "d", "d": {"r": number, "b": answer}})

    def _act(self, action: Any, body: dict[str, Any]) -> Any:
        if action in ("auth", "gauth"):
            return self._authenticate(action, body.get("cred"))
        if action == "unauth":
            with self._lock:
                self._set_auth(None, owner=False)
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
                self._set_auth(None, owner=True)
            self.standin._record_socket_auth(self, action, "ok", None, None)
            return {"auth": None, "expires": None}
        try:
            token = self.standin.auth.verify_id_token(credential)
        except AuthError as error:
            status = "expired_token" if error.message == "TOKEN_EXPIRED" else "invalid_token"
            with self._lock:
                self._set_auth(None, owner=False)
            self.standin._record_socket_auth(self, action, status, None, None)
            raise RequestFailed(status, error.detail or error.message) from None
        with self._lock:
            self._set_auth(token, owner=False)
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
            if self._ended:
                return {}
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
