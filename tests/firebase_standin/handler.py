"""The HTTP side of the stand-in: Realtime Database REST requests, event streams, the
browser SDK's WebSocket (``/.ws``) and long polling (``/.lp``), the Auth emulator endpoints and
the control endpoint, turned into calls on ``StandIn``."""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from . import tree, websocket
from .auth import IDENTITY_TOOLKIT_PREFIX, SECURE_TOKEN_PREFIX, AuthError
from .longpoll import CLOSE_AT_ONCE, LONG_POLL_PATH, BadPoll, LongPollTransport, disconnect_frame, pieces_of
from .realtime import RealtimeSession
from .websocket_transport import WebSocketTransport

if TYPE_CHECKING:
    from .server import StandIn

CONTROL_PREFIX = "/.standin/"
WEBSOCKET_PATH = "/.ws"
ALLOWED_METHODS = "GET, PUT, PATCH, POST, DELETE, OPTIONS"
DEFAULT_NAMESPACE = "default"


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    standin: StandIn


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without this, Nagle's algorithm and the
        # client's delayed ACK add 40 ms to every response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.standin._track(self.connection, True)

    def finish(self) -> None:
        self.server.standin._track(self.connection, False)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_POST(self) -> None:
        override = self.headers.get("X-HTTP-Method-Override", "").upper()
        self._dispatch(override if override in ("PUT", "PATCH", "DELETE") else "POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_OPTIONS(self) -> None:
        # A CORS preflight: the page's origin is not the stand-in's.
        self.send_response(204)
        self._cors_headers()
        self.send_header("Access-Control-Allow-Methods", ALLOWED_METHODS)
        requested = self.headers.get("Access-Control-Request-Headers")
        if requested:
            self.send_header("Access-Control-Allow-Headers", requested)
        self.send_header("Access-Control-Max-Age", "600")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _cors_headers(self) -> None:
        origin = self.headers.get("Origin")
        self.send_header("Access-Control-Allow-Origin", origin or "*")
        if origin:
            self.send_header("Vary", "Origin")

    # --- request flow ------------------------------------------------------------------------

    def _dispatch(self, method: str) -> None:
        standin = self.server.standin
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        if url.path.startswith(CONTROL_PREFIX):
            self._control(url.path[len(CONTROL_PREFIX) :])
            return
        if standin.down_mode is not None:
            if standin.down_mode == "hang":
                standin._wait_until_up()
            self.close_connection = True
            return
        if url.path.startswith((IDENTITY_TOOLKIT_PREFIX, SECURE_TOKEN_PREFIX)):
            self._auth(method, url.path)
            return
        namespace = params.get("ns") or self._namespace_from_host()
        if url.path == WEBSOCKET_PATH:
            self._websocket(method, namespace, params)
            return
        if url.path == LONG_POLL_PATH:
            self._long_poll(namespace, params)
            return
        streaming = method == "GET" and "text/event-stream" in self.headers.get("Accept", "")
        standin._count(namespace, "LISTEN" if streaming else method)
        standin.authorizations.append(
            (
                method,
                url.path,
                self.headers.get("Authorization"),
                params.get("auth") or params.get("access_token"),
            )
        )
        body = self._read_body()
        if standin.latency_seconds:
            time.sleep(standin.latency_seconds)
        status = standin._take_failure()
        if status is not None:
            self._json(status, {"error": f"{HTTPStatus(status).phrase} (injected by the stand-in)"})
            return
        if not self._authorized(params):
            self._json(401, {"error": "Unauthorized request."})
            return
        try:
            if not url.path.endswith(".json"):
                raise tree.DataError("Paths of the REST API end in .json")
            path = tree.parse_path(unquote(url.path[: -len(".json")]))
            if streaming:
                self._stream(namespace, path)
                return
            self._operate(method, namespace, path, params, body)
        except tree.DataError as error:
            self._json(400, {"error": str(error)})

    def _authorized(self, params: dict[str, str]) -> bool:
        accepted = self.server.standin.accepted_tokens
        if accepted is None:
            return True
        header = self.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else None
        return (token or params.get("auth") or params.get("access_token")) in accepted

    def _namespace_from_host(self) -> str:
        host = (self.headers.get("Host") or "").split(":")[0]
        first, _, rest = host.partition(".")
        if rest and not first.isdigit():
            return first
        return DEFAULT_NAMESPACE

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _parse(self, body: bytes) -> Any:
        try:
            return json.loads(body or b"null")
        except ValueError:
            raise tree.DataError("Invalid data; couldn't parse JSON object, array, or value.") from None

    def _operate(
        self, method: str, namespace: str, path: tree.Path, params: dict[str, str], body: bytes
    ) -> None:
        standin = self.server.standin
        silent = params.get("print") == "silent"
        if method == "GET":
            self._get(namespace, path, params)
            return
        if method in ("PUT", "DELETE"):
            raw = self._parse(body) if method == "PUT" else None
            done, value = standin.write(namespace, path, raw, if_match=self.headers.get("if-match"))
            if not done:
                self._json(412, tree.render(value), etag=tree.etag(value))
                return
            self._reply(silent, tree.render(value), etag=tree.etag(value))
        elif method == "PATCH":
            written = standin.update(namespace, path, self._parse(body))
            self._reply(silent, {key: tree.render(value) for key, value in written.items()})
        elif method == "POST":
            self._reply(silent, {"name": standin.push(namespace, path, self._parse(body))})

    def _get(self, namespace: str, path: tree.Path, params: dict[str, str]) -> None:
        standin = self.server.standin
        query = tree.Query(params)
        wants_shallow = params.get("shallow") == "true"
        if wants_shallow and query.active:
            raise tree.DataError("Mixing shallow with other query parameters is not allowed")
        value = standin.read(namespace, path)
        tag = tree.etag(value)
        if self.headers.get("if-none-match") == tag:
            self._send(304, b"", etag=tag)
            return
        if query.active:
            value = query.apply(value)
        elif wants_shallow:
            value = tree.shallow(value)
        send_etag = self.headers.get("X-Firebase-ETag", "").lower() == "true"
        self._reply(params.get("print") == "silent", tree.render(value), etag=tag if send_etag else None)

    def _stream(self, namespace: str, path: tree.Path) -> None:
        standin = self.server.standin
        listener = standin.add_listener(namespace, path)
        self.close_connection = True
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.flush()
            while True:
                try:
                    item = listener.events.get(timeout=standin.keepalive_seconds)
                except queue.Empty:
                    item = ("keep-alive", None)
                if item is None:
                    break
                event, data = item
                text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
                self.wfile.write(f"event: {event}\ndata: {text}\n\n".encode())
                self.wfile.flush()
        except OSError:
            pass
        finally:
            standin.remove_listener(listener)

    def _auth(self, method: str, path: str) -> None:
        emulator = self.server.standin.auth
        body = self._read_body()
        try:
            if method != "POST":
                raise AuthError("METHOD_NOT_ALLOWED", "the Auth endpoints take POST", status=405)
            if path == IDENTITY_TOOLKIT_PREFIX + "accounts:signInWithCustomToken":
                self.server.standin._count(emulator.project_id, "AUTH_SIGN_IN")
                answer = emulator.sign_in_with_custom_token(self._auth_json(body))
            elif path == IDENTITY_TOOLKIT_PREFIX + "accounts:lookup":
                self.server.standin._count(emulator.project_id, "AUTH_LOOKUP")
                answer = emulator.lookup(self._auth_json(body))
            elif path == SECURE_TOKEN_PREFIX + "token":
                self.server.standin._count(emulator.project_id, "AUTH_REFRESH")
                answer = emulator.refresh(self._auth_form(body))
            else:
                raise AuthError("NOT_FOUND", f"the stand-in does not serve {path}", status=404)
            self._json(200, answer)
        except AuthError as error:
            self._json(error.status, error.body())

    def _auth_json(self, body: bytes) -> dict[str, Any]:
        try:
            value = json.loads(body or b"{}")
        except ValueError:
            raise AuthError("INVALID_JSON", "the body is not JSON") from None
        if not isinstance(value, dict):
            raise AuthError("INVALID_JSON", "the body must be a JSON object")
        return value

    def _auth_form(self, body: bytes) -> dict[str, str]:
        if "json" in self.headers.get("Content-Type", ""):
            return {key: str(value) for key, value in self._auth_json(body).items()}
        return dict(parse_qsl(body.decode(errors="replace"), keep_blank_values=True))

    def _websocket(self, method: str, namespace: str, params: dict[str, str]) -> None:
        """Upgrades to a WebSocket and speaks the Realtime Database protocol until it closes.
        With ``s=<session id>`` it is a long-polling client's way out of long polling."""
        key = self.headers.get("Sec-WebSocket-Key")
        upgrade = self.headers.get("Upgrade", "").lower() == "websocket"
        connection = "upgrade" in self.headers.get("Connection", "").lower()
        if method != "GET" or not (upgrade and connection and websocket.valid_client_key(key)):
            self._json(400, {"error": "/.ws takes a WebSocket upgrade (GET, Upgrade: websocket)"})
            return
        if self.headers.get("Sec-WebSocket-Version") != "13":
            self.send_response(426)
            self.send_header("Sec-WebSocket-Version", "13")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        standin = self.server.standin
        standin._count(namespace, "WS_CONNECT")
        self.close_connection = True
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", websocket.accept_key(key))
        self.end_headers()
        self.wfile.flush()
        endpoint = websocket.Endpoint(self.connection, self.rfile)
        if "s" in params:
            session = standin._session(params["s"])
            if session is None or session.namespace != namespace:
                endpoint.close()  # nothing to take over: the client keeps what it has
                return
            # Held messages wait at most as long as the old connection could live without a poll.
            drain = standin.long_poll_seconds + standin.long_poll_idle_seconds
            WebSocketTransport(endpoint, session.id, drain).serve_switch(session)
            return
        host = self.headers.get("Host") or standin.address
        session = RealtimeSession(standin, namespace, host)
        WebSocketTransport(endpoint, session.id).serve(session)

    def _long_poll(self, namespace: str, params: dict[str, str]) -> None:
        """One request of the long-polling transport (see longpoll.py)."""
        standin = self.server.standin
        try:
            if params.get("start") == "t":
                standin._count(namespace, "LP_CONNECT")
                host = self.headers.get("Host") or standin.address
                session = RealtimeSession(standin, namespace, host)
                transport = LongPollTransport(standin, session, params.get("cb", ""))
                self._script(transport.open())
                return
            transport = standin._long_poll(params.get("id"), params.get("pw"))
            if params.get("dframe") == "t":
                page = disconnect_frame(transport.id, transport.password) if transport else ""
                self._send(200, page.encode(), content_type="text/html; charset=utf-8")
                return
            if params.get("disconn") == "t":
                standin._count(namespace, "LP_DISCONNECT")
                if transport is not None:
                    transport.client_left()
                self._send(204, b"")
                return
            if "ser" not in params:
                raise BadPoll("a poll needs id, pw and ser")
            standin._count(namespace, "LP_POLL")
            if transport is None:
                self._script(CLOSE_AT_ONCE)
                return
            serial = int(params["ser"]) if params["ser"].isdigit() else None
            if serial is None:
                raise BadPoll("ser must be a number")
            self._script(transport.poll(serial, pieces_of(params), standin.long_poll_seconds))
        except BadPoll as error:
            self._send(400, f"/* {error} */".encode(), content_type="application/javascript")

    def _script(self, text: str) -> None:
        try:
            self._send(
                200, text.encode(), content_type="application/javascript; charset=utf-8", no_store=True
            )
        except OSError:
            # A held poll outlived its page; what it carried is the transport's to lose, as on
            # a socket that breaks.
            self.close_connection = True

    def _control(self, action: str) -> None:
        try:
            body = self._parse(self._read_body()) or {}
            if action == "down":
                # Going down closes every connection, this one included: answer first.
                mode = body.get("mode", "drop")
                if mode == "refuse" and body.get("seconds") is None:
                    raise tree.DataError("refuse over HTTP closes this endpoint too: give seconds")
                self.close_connection = True
                self._json(200, {"down": mode, "seconds": body.get("seconds")})
                self.wfile.flush()
                self.server.standin.control(action, body)
                return
            self._json(200, self.server.standin.control(action, body))
        except KeyError:
            self._json(404, {"error": f"unknown control action {action!r}"})
        except (tree.DataError, ValueError, TypeError) as error:
            self._json(400, {"error": str(error)})

    # --- responses ---------------------------------------------------------------------------

    def _reply(self, silent: bool, value: Any, *, etag: str | None = None) -> None:
        if silent:
            self._send(204, b"", etag=etag)
        else:
            self._json(200, value, etag=etag)

    def _json(self, status: int, value: Any, *, etag: str | None = None) -> None:
        self._send(status, json.dumps(value, separators=(",", ":")).encode(), etag=etag, json_body=True)

    def _send(
        self,
        status: int,
        payload: bytes,
        *,
        etag: str | None = None,
        json_body: bool = False,
        content_type: str | None = None,
        no_store: bool = False,
    ) -> None:
        self.send_response(status)
        if json_body:
            content_type = "application/json; charset=utf-8"
        if content_type:
            self.send_header("Content-Type", content_type)
        if no_store:
            self.send_header("Cache-Control", "no-store")
        if etag is not None:
            self.send_header("ETag", etag)
        if status not in (204, 304):
            self.send_header("Content-Length", str(len(payload)))
        self._cors_headers()
        self.end_headers()
        if status not in (204, 304):
            self.wfile.write(payload)
