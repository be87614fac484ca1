"""The Realtime Database protocol over a WebSocket (``/.ws?ns=<namespace>&v=5``): the handler's
thread reads and runs messages, a writer thread drains the outbox. Messages longer than 16384
characters travel as a bare frame count followed by that many pieces, both ways; a bare ``0`` is
a keep-alive. With ``s=<session id>`` the socket is a long-polling client's way out of long
polling (see realtime.py, "Switching transports").
"""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import threading
from collections.abc import Iterator
from typing import Any

from . import websocket
from .realtime import PONG, RealtimeSession

MAX_FRAME_CHARS = 16384

_STOP = object()


def split_message(text: str) -> list[str]:
    """What goes on the wire for one message: itself, or a frame count and the pieces."""
    if len(text) <= MAX_FRAME_CHARS:
        return [text]
    pieces = [text[start : start + MAX_FRAME_CHARS] for start in range(0, len(text), MAX_FRAME_CHARS)]
    return [str(len(pieces)), *pieces]


class WebSocketTransport:
    """One WebSocket carrying a session."""

    name = "websocket"

    def __init__(self, endpoint: websocket.Endpoint, label: str = "", drain_seconds: float = 60.0) -> None:
        """``drain_seconds``: after taking over from long polling, how long at most to hold this
        socket's messages for the client's last ones over long polling."""
        self.endpoint = endpoint
        self.drain_seconds = drain_seconds
        self._outbox: queue.Queue = queue.Queue()
        self._closed = threading.Event()
        self._writer = threading.Thread(target=self._write_loop, name=f"firebase-ws-{label}", daemon=True)

    def deliver(self, message: dict[str, Any]) -> None:
        self._outbox.put(message)

    def close(self) -> None:
        self._closed.set()
        self._outbox.put(_STOP)
        with contextlib.suppress(OSError):
            self.endpoint.sock.shutdown(socket.SHUT_RDWR)

    def serve(self, session: RealtimeSession) -> None:
        """A new session on this socket, until the socket closes."""
        self._writer.start()
        session.attach(self)
        self._read(session)

    def serve_switch(self, session: RealtimeSession) -> None:
        """The socket a long-polling client opened to move ``session`` onto (``s=`` its id).
        Until the switch it only answers pings; a client that gives up just closes it."""
        self._writer.start()
        session.offer_switch(self)
        self._read(session)

    def _read(self, session: RealtimeSession) -> None:
        try:
            for message in self._messages():
                if session.transport is self:
                    session.wait_until_drained(self.drain_seconds)
                    session.receive(message, self)
                else:
                    self._before_switch(session, message)
        except (websocket.ConnectionClosed, websocket.ProtocolError, OSError, ValueError):
            pass
        finally:
            self._closed.set()
            self._outbox.put(_STOP)
            self._writer.join(timeout=5)
            session.transport_ended(self)

    def _before_switch(self, session: RealtimeSession, message: Any) -> None:
        control = message.get("d") if isinstance(message, dict) and message.get("t") == "c" else None
        if not isinstance(control, dict):
            return  # the client sends data here only after its own "a"
        if control.get("t") == "p":
            self.deliver(PONG)
        elif control.get("t") == "a":
            session.switch_to(self)
            if session.ended:
                self.close()

    def _messages(self) -> Iterator[Any]:
        while not self._closed.is_set():
            text = self._text(self.endpoint.receive())
            if len(text) <= 6 and text.isdigit():
                count = int(text)
                if count == 0:
                    continue  # keep-alive
                text = "".join(self._text(self.endpoint.receive()) for _ in range(count))
            yield json.loads(text)

    @staticmethod
    def _text(message: str | bytes) -> str:
        return message.decode() if isinstance(message, bytes) else message

    def _write_loop(self) -> None:
        while True:
            item = self._outbox.get()
            if item is _STOP:
                return
            try:
                for piece in split_message(json.dumps(item, separators=(",", ":"), ensure_ascii=False)):
                    self.endpoint.send_text(piece)
            except OSError:
                return
