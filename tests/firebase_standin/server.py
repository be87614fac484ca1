"""A local stand-in for the Firebase Realtime Database, as firebase-admin uses it (REST and
event streams) and as the browser SDK uses it (the realtime protocol over a WebSocket or long
polling, and the Auth emulator's custom-token sign-in), all on one port.

``StandIn`` holds the state (one JSON tree per namespace, listeners, sockets, users, faults,
counters) and survives the HTTP server being taken down and brought back on the same port;
``handler.Server`` is the socket side and is recreated each time the database comes back up.
"""

from __future__ import annotations

import contextlib
import queue
import secrets
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import tree
from .auth import AuthEmulator
from .handler import DEFAULT_NAMESPACE, Handler, Server
from .longpoll import LongPollTransport
from .realtime import RealtimeSession

OWNER_TOKEN = "owner"

DOWN_MODES = ("refuse", "drop", "hang")


@dataclass
class _Listener:
    namespace: str
    path: tree.Path
    events: queue.Queue = field(default_factory=queue.Queue)

    def send(self, event: str, data: Any) -> None:
        self.events.put((event, data))

    def end(self, event: str | None = None, data: Any = None) -> None:
        if event:
            self.events.put((event, data))
        self.events.put(None)


@dataclass
class _Failure:
    status: int
    remaining: int | None
    until: float | None

    def take(self) -> bool:
        """True when this request must fail; uses up one of a counted failure."""
        if self.until is not None and time.monotonic() >= self.until:
            return False
        if self.remaining is not None:
            if self.remaining <= 0:
                return False
            self.remaining -= 1
        return True


class StandIn:
    """The database, its fault switches and its counters; start() serves it over HTTP."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        keepalive_seconds: float = 30.0,
        accepted_tokens: set[str] | None = None,
        project_id: str = "peardeck-test",
        custom_token_keys: list[bytes | str] | None = None,
        id_token_seconds: int = 3600,
        long_poll_seconds: float = 20.0,
        long_poll_idle_seconds: float = 30.0,
    ) -> None:
        """``long_poll_seconds``: how long a long poll waits for news before its empty answer
        (the SDK gives up on a poll after 25 s and sends another); ``long_poll_idle_seconds``:
        how long a long-polling client may go without a poll open before its connection counts
        as closed (its onDisconnect operations run).

        ``custom_token_keys``: PEM public keys of the service accounts whose custom tokens
        the Auth endpoints accept (signature, audience and expiry checked); None accepts any
        custom token, like the official emulator. ``id_token_seconds``: lifetime of the ID
        tokens it issues (the browser SDK refreshes them 5 minutes before they expire, so a
        lifetime a little over 300 s makes it refresh within seconds). ``project_id`` goes into
        the ID tokens' ``iss`` and ``aud``."""
        self.host = host
        self.port = port
        self.keepalive_seconds = keepalive_seconds
        self.long_poll_seconds = long_poll_seconds
        self.long_poll_idle_seconds = long_poll_idle_seconds
        # None accepts any credential (or none); a set makes other requests fail with 401.
        self.accepted_tokens = accepted_tokens
        self._lock = threading.RLock()
        self._roots: dict[str, Any] = {}
        self._listeners: list[_Listener] = []
        self._push_ids = tree.PushIds()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._up_again_timer: threading.Timer | None = None
        self._connections: set[socket.socket] = set()
        self.down_mode: str | None = None
        self._up = threading.Event()
        self.latency_seconds = 0.0
        self._failure: _Failure | None = None
        self._requests: Counter[str] = Counter()
        self._requests_by_namespace: dict[str, Counter[str]] = {}
        self.injected_failures = 0
        self.authorizations: deque[tuple[str, str, str | None, str | None]] = deque(maxlen=1000)
        self.auth = AuthEmulator(
            project_id, custom_token_keys=custom_token_keys, id_token_seconds=id_token_seconds
        )
        self._sessions: dict[str, RealtimeSession] = {}
        self._long_polls: dict[str, LongPollTransport] = {}
        # Every auth/gauth on a socket: {"session", "namespace", "action", "status", "uid", "claims"}.
        self.socket_auths: deque[dict[str, Any]] = deque(maxlen=1000)
        # Every socket request on a path: (action, namespace, path, uid or None when unauthenticated).
        self.socket_requests: deque[tuple[str, str, str, str | None]] = deque(maxlen=1000)

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> StandIn:
        self._serve()
        return self

    def stop(self) -> None:
        if self._up_again_timer:
            self._up_again_timer.cancel()
        self._up.set()
        self._close_listeners()
        self._close_sessions()
        self._stop_serving()
        self._close_connections()

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def address(self) -> str:
        """host:port, the value for FIREBASE_DATABASE_EMULATOR_HOST."""
        return f"{self.host}:{self.port}"

    def database_url(self, namespace: str) -> str:
        """A databaseURL that puts firebase-admin in emulator mode without any environment."""
        return f"http://{self.address}?ns={namespace}"

    def _serve(self) -> None:
        server = Server((self.host, self.port), Handler)
        server.standin = self
        self.port = server.server_address[1]
        self._server = server
        self._up.set()
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="firebase-standin", daemon=True
        )
        self._thread.start()

    def _stop_serving(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = None

    # --- fault injection ----------------------------------------------------------------------

    def go_down(self, mode: str = "refuse", *, seconds: float | None = None) -> None:
        """Takes the database away, closing every open connection, listener and socket.

        ``refuse``: nothing listens on the port (connection refused). ``drop``: connections are
        accepted and closed without an answer. ``hang``: requests are read and never answered
        until the database is back. ``seconds`` brings it back by itself.
        """
        if mode not in DOWN_MODES:
            raise ValueError(f"down mode must be one of {DOWN_MODES}")
        with self._lock:
            self.down_mode = mode
            self._up.clear()
        self._close_listeners()
        self._close_sessions()
        if mode == "refuse":
            self._stop_serving()
        self._close_connections()
        if seconds is not None:
            self._up_again_timer = threading.Timer(seconds, self.come_up)
            self._up_again_timer.daemon = True
            self._up_again_timer.start()

    def come_up(self) -> None:
        with self._lock:
            was = self.down_mode
            self.down_mode = None
        if was == "refuse":
            self._serve()
        self._up.set()

    def fail_requests(
        self, status: int = 503, *, count: int | None = None, seconds: float | None = None
    ) -> None:
        """Answers the next ``count`` requests, or every request for ``seconds`` (or until
        ``stop_failing``), with ``status`` and a Firebase-style JSON error body."""
        with self._lock:
            until = time.monotonic() + seconds if seconds is not None else None
            self._failure = _Failure(status, count, until)

    def stop_failing(self) -> None:
        with self._lock:
            self._failure = None

    def set_latency(self, seconds: float) -> None:
        """Delays every database request (not the control endpoint) by ``seconds``."""
        self.latency_seconds = seconds

    def revoke_auth(self, status: str = "expired_token") -> None:
        """Sends auth_revoked to every REST listener and closes it, as Firebase does when the
        credential of a stream expires; every authenticated socket loses its credential and
        gets ``{"a": "ac", "b": {"s": status}}`` (the browser SDK then reconnects with a freshly
        refreshed ID token)."""
        with self._lock:
            streams = [lst for lst in self._listeners if isinstance(lst, _Listener)]
            self._listeners = [lst for lst in self._listeners if not isinstance(lst, _Listener)]
            sessions = list(self._sessions.values())
        for listener in streams:
            listener.end("auth_revoked", "credential is no longer valid")
        for session in sessions:
            session.revoke_auth(status, "Auth token is no longer valid.")

    def cancel_listeners(self, namespace: str, path: str = "/") -> int:
        """Sends cancel to listeners at or under ``path`` (as when rules stop allowing the
        read) and closes them; returns how many were cancelled."""
        target = tree.parse_path(path)
        with self._lock:
            hit = [
                lst
                for lst in self._listeners
                if lst.namespace == namespace and tree.is_prefix(target, lst.path)
            ]
            self._listeners = [lst for lst in self._listeners if lst not in hit]
        for listener in hit:
            listener.end("cancel", None)
        return len(hit)

    def reset(self) -> None:
        """Forgets all data, users, faults and counts (listeners and sockets are closed, and the
        sockets' onDisconnect operations dropped)."""
        with self._lock:
            sessions = list(self._sessions.values())
        for session in sessions:
            session.forget_on_disconnect()
        self._close_listeners()
        self._close_sessions()
        self.auth.reset()
        with self._lock:
            self._roots.clear()
            self._failure = None
            self.latency_seconds = 0.0
            self.reset_counts()

    # --- counters ------------------------------------------------------------------------------

    def request_counts(self, namespace: str | None = None) -> dict[str, int]:
        """Requests received per method (GET, PUT, PATCH, POST, DELETE; LISTEN for event
        streams), including those answered with an injected failure."""
        with self._lock:
            source = self._requests if namespace is None else self._requests_by_namespace.get(namespace, {})
            return dict(source)

    def write_count(self, namespace: str | None = None) -> int:
        """REST writes (what firebase-admin sent); browser writes count as WS_PUT and WS_MERGE."""
        counts = self.request_counts(namespace)
        return sum(counts.get(method, 0) for method in ("PUT", "PATCH", "POST", "DELETE"))

    def reset_counts(self) -> None:
        with self._lock:
            self._requests.clear()
            self._requests_by_namespace.clear()
            self.injected_failures = 0
            self.authorizations.clear()
            self.socket_auths.clear()
            self.socket_requests.clear()

    @property
    def listener_count(self) -> int:
        """Open REST event streams and socket listens."""
        with self._lock:
            return len(self._listeners)

    @property
    def socket_count(self) -> int:
        with self._lock:
            return len(self._sessions)

    def sockets(self) -> list[dict[str, Any]]:
        """The open browser connections, whichever transport carries them: session id,
        namespace, transport (``websocket`` or ``long_polling``), uid, listened paths."""
        with self._lock:
            sessions = list(self._sessions.values())
        return sorted((session.describe() for session in sessions), key=lambda entry: entry["session"])

    def socket_uids(self) -> list[str | None]:
        """Who authenticated successfully on a socket, in order (None for the owner credential)."""
        return [entry["uid"] for entry in list(self.socket_auths) if entry["status"] == "ok"]

    def stats(self) -> dict[str, Any]:
        with self._lock:
            failure = self._failure
            return {
                "address": self.address,
                "down": self.down_mode,
                "latency_seconds": self.latency_seconds,
                "failing": None
                if failure is None
                else {"status": failure.status, "remaining": failure.remaining},
                "requests": dict(self._requests),
                "requests_by_namespace": {ns: dict(c) for ns, c in self._requests_by_namespace.items()},
                "injected_failures": self.injected_failures,
                "listeners": len(self._listeners),
                "namespaces": sorted(self._roots),
                "socket_count": len(self._sessions),
            } | {"sockets": self.sockets()}

    # --- direct data access for tests ----------------------------------------------------------

    def data(self, namespace: str, path: str = "/") -> Any:
        """The value at ``path`` as a REST GET would return it."""
        with self._lock:
            return tree.render(tree.get(self._roots.get(namespace), tree.parse_path(path)))

    def seed(self, namespace: str, path: str, value: Any) -> None:
        """Writes without counting a request (listeners are notified as for a PUT)."""
        self.write(namespace, tree.parse_path(path), value)

    # --- the database operations ---------------------------------------------------------------

    def read(self, namespace: str, path: tree.Path) -> Any:
        with self._lock:
            return tree.get(self._roots.get(namespace), path)

    def write(
        self, namespace: str, path: tree.Path, raw: Any, *, if_match: str | None = None
    ) -> tuple[bool, Any]:
        """PUT (raw None deletes). Returns (done, stored value); with ``if_match`` not matching
        the current ETag nothing is written and (False, current value) comes back."""
        with self._lock:
            old_root = self._roots.get(namespace)
            current = tree.get(old_root, path)
            if if_match is not None and if_match != tree.etag(current):
                return False, current
            value = tree.normalize(raw, current)
            new_root = tree.set_at(old_root, path, value)
            self._commit(namespace, old_root, new_root)
            self._notify_put(namespace, old_root, new_root, path, value)
            return True, value

    def update(self, namespace: str, path: tree.Path, raw: Any) -> dict[str, Any]:
        """PATCH: every key may be a slash path; all of them are applied at once."""
        if not isinstance(raw, dict) or not raw:
            raise tree.DataError("Invalid data; PATCH needs a non-empty JSON object")
        targets = [(key, tree.parse_path(key)) for key in raw]
        if any(not relative for _, relative in targets):
            raise tree.DataError("Invalid data; an update key cannot be empty")
        tree.check_update_paths([relative for _, relative in targets])
        with self._lock:
            old_root = self._roots.get(namespace)
            new_root = old_root
            written: dict[str, Any] = {}
            for key, relative in targets:
                absolute = path + relative
                value = tree.normalize(raw[key], tree.get(old_root, absolute))
                new_root = tree.set_at(new_root, absolute, value)
                written[key] = value
            self._commit(namespace, old_root, new_root)
            self._notify_patch(namespace, old_root, new_root, path, targets, written)
            return written

    def write_if(self, namespace: str, path: tree.Path, raw: Any, condition: Callable[[Any], bool]) -> bool:
        """PUT only if ``condition(current value)`` holds (the socket's compare-and-set)."""
        with self._lock:
            if not condition(tree.get(self._roots.get(namespace), path)):
                return False
            self.write(namespace, path, raw)
            return True

    def push(self, namespace: str, path: tree.Path, raw: Any) -> str:
        name = self._push_ids.next()
        self.write(namespace, (*path, name), raw)
        return name

    def _commit(self, namespace: str, old_root: Any, new_root: Any) -> None:
        if new_root is None:
            self._roots.pop(namespace, None)
        else:
            self._roots[namespace] = new_root

    # --- listeners -----------------------------------------------------------------------------

    def add_listener(self, namespace: str, path: tree.Path, listener: Any = None) -> Any:
        """Registers a REST stream listener, or ``listener`` (a socket's listen: anything with
        ``namespace``, ``path``, ``send(event, data)`` and ``end(event, data)``)."""
        listener = listener if listener is not None else _Listener(namespace, path)
        with self._lock:
            # Registered and given its first snapshot under the lock: no write falls between.
            listener.send(
                "put", {"path": "/", "data": tree.render(tree.get(self._roots.get(namespace), path))}
            )
            self._listeners.append(listener)
        return listener

    def remove_listener(self, listener: Any) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def _close_listeners(self) -> None:
        with self._lock:
            listeners, self._listeners = self._listeners, []
        for listener in listeners:
            listener.end()

    def _notify_put(self, namespace: str, old_root: Any, new_root: Any, path: tree.Path, value: Any) -> None:
        for listener in self._listeners:
            if listener.namespace != namespace:
                continue
            if tree.is_prefix(listener.path, path):
                relative = path[len(listener.path) :]
                listener.send("put", {"path": tree.path_text(relative), "data": tree.render(value)})
            elif tree.is_prefix(path, listener.path):
                self._send_if_changed(listener, old_root, new_root)

    def _notify_patch(
        self,
        namespace: str,
        old_root: Any,
        new_root: Any,
        path: tree.Path,
        targets: list[tuple[str, tree.Path]],
        written: dict[str, Any],
    ) -> None:
        for listener in self._listeners:
            if listener.namespace != namespace:
                continue
            if tree.is_prefix(listener.path, path):
                # The update happened at or below the listened location: relay it as sent.
                relative = path[len(listener.path) :]
                data = {key: tree.render(value) for key, value in written.items()}
                listener.send("patch", {"path": tree.path_text(relative), "data": data})
                continue
            if not tree.is_prefix(path, listener.path):
                continue
            # The update happened above: keep the parts that reach the listened location.
            absolute = [(key, path + relative) for key, relative in targets]
            if any(tree.is_prefix(target, listener.path) for _, target in absolute):
                self._send_if_changed(listener, old_root, new_root)
                continue
            below = {
                "/".join(target[len(listener.path) :]): tree.render(written[key])
                for key, target in absolute
                if tree.is_prefix(listener.path, target)
            }
            if below:
                listener.send("patch", {"path": "/", "data": below})

    @staticmethod
    def _send_if_changed(listener: _Listener, old_root: Any, new_root: Any) -> None:
        new_value = tree.get(new_root, listener.path)
        if tree.get(old_root, listener.path) != new_value:
            listener.send("put", {"path": "/", "data": tree.render(new_value)})

    # --- bookkeeping used by the handler ----------------------------------------------------

    def _count(self, namespace: str, method: str) -> None:
        with self._lock:
            self._requests[method] += 1
            self._requests_by_namespace.setdefault(namespace, Counter())[method] += 1

    def _take_failure(self) -> int | None:
        with self._lock:
            if self._failure is not None and self._failure.take():
                self.injected_failures += 1
                return self._failure.status
            return None

    def _register_session(self, session: RealtimeSession, opened: bool) -> None:
        with self._lock:
            if opened:
                self._sessions[session.id] = session
            else:
                self._sessions.pop(session.id, None)

    def _session(self, session_id: str | None) -> RealtimeSession | None:
        with self._lock:
            return self._sessions.get(session_id or "")

    def _register_long_poll(self, transport: LongPollTransport, opened: bool) -> None:
        with self._lock:
            if opened:
                self._long_polls[transport.id] = transport
            elif self._long_polls.get(transport.id) is transport:
                del self._long_polls[transport.id]

    def _long_poll(self, transport_id: str | None, password: str | None) -> LongPollTransport | None:
        """The long-polling connection with that id, if the password is its own."""
        with self._lock:
            transport = self._long_polls.get(transport_id or "")
        if transport is None or not secrets.compare_digest(transport.password, password or ""):
            return None
        return transport

    def _close_sessions(self) -> None:
        with self._lock:
            sessions = list(self._sessions.values())
        for session in sessions:
            session.close()

    def _record_socket_auth(
        self, session: RealtimeSession, action: str, status: str, uid: str | None, claims: Any
    ) -> None:
        self.socket_auths.append(
            {
                "session": session.id,
                "namespace": session.namespace,
                "action": action,
                "status": status,
                "uid": uid,
                "claims": claims,
            }
        )

    def _record_socket_request(self, action: str, namespace: str, path: str, uid: str | None) -> None:
        self.socket_requests.append((action, namespace, path, uid))

    def _track(self, connection: socket.socket, opened: bool) -> None:
        with self._lock:
            if opened:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def _close_connections(self) -> None:
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def _wait_until_up(self) -> None:
        self._up.wait()

    def control(self, action: str, body: dict[str, Any]) -> Any:
        """The control endpoint: POST /.standin/<action> with a JSON body; GET /.standin/stats."""
        if action == "stats":
            return self.stats()
        if action == "down":
            mode = body.get("mode", "drop")
            if mode == "refuse" and body.get("seconds") is None:
                raise tree.DataError("refuse over HTTP closes this endpoint too: give seconds")
            self.go_down(mode, seconds=body.get("seconds"))
        elif action == "up":
            self.come_up()
        elif action == "fail":
            self.fail_requests(
                int(body.get("status", 503)), count=body.get("count"), seconds=body.get("seconds")
            )
        elif action == "recover":
            self.stop_failing()
        elif action == "latency":
            self.set_latency(float(body.get("seconds", 0)))
        elif action == "revoke":
            self.revoke_auth(body.get("status", "expired_token"))
        elif action == "cancel":
            self.cancel_listeners(body.get("ns", DEFAULT_NAMESPACE), body.get("path", "/"))
        elif action == "reset-counts":
            self.reset_counts()
        elif action == "reset":
            self.reset()
        else:
            raise KeyError(action)
        return self.stats()
