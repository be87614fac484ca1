"""Long polling: the Realtime Database protocol over plain HTTP requests at ``/.lp``, as the browser
SDK speaks it when its WebSocket fails (``BrowserPollConnection`` in firebase-database.js). The
messages are the WebSocket's, and they reach the same ``RealtimeSession``; only the carriage
differs.

The SDK never reads a response body. It loads every answer as a script inside a hidden frame of
its own, and the script calls the SDK back:

- ``GET /.lp?start=t&ser=S&cb=N&v=5&ns=NS`` opens a connection. The answer defines two functions
  in the frame, ``pLPCommand`` and ``pRTLPCB``, that hand their arguments to the page's
  ``pLPCommand<N>`` / ``pRTLPCB<N>``; says ``pLPCommand("start", id, pw)``; and carries answer 0,
  the hello.
- ``GET /.lp?id=I&pw=P&ser=S[&seg0=..&ts0=..&d0=..&seg1=..]`` is a poll. It may carry pieces of
  the client's messages: each message is JSON, then URL-safe base64 with ``.`` for padding, cut
  into pieces of at most 1840 characters; ``seg`` numbers the pieces across the whole connection
  from 0 and ``ts`` is how many pieces that piece's message has. Pieces may come in any order and
  spread over several polls; the server runs each message once all its pieces are in, in order.
  The poll is answered when there is something to say: ``pRTLPCB(k, [message, ...])`` with ``k``
  counting answers from 0 (the client runs answers in that order, whatever order the scripts
  arrive in); an empty script after ``hold`` seconds (the keep-alive: the client polls again at
  once); ``pLPCommand("close", k)`` when the connection ends after answer ``k``. The client keeps
  one poll open, two while it has something to send; only the poll with the highest serial
  (``ser``) waits, an older one is answered at once.
- ``GET /.lp?dframe=t&id=I&pw=P`` is a hidden frame the SDK keeps in the page while the
  connection lives. Its page sends ``/.lp?disconn=t&id=I&pw=P`` when it is unloaded, which
  happens when the SDK closes the connection or the page goes away; the server then ends the
  session as it would for a closed socket.

A connection with no poll open for ``idle`` seconds is taken for gone too (a browser that vanished
without unloading anything). An unknown ``id`` or a wrong ``pw`` gets ``pLPCommand("close")``, and
the SDK starts a new connection.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import threading
import time
from typing import TYPE_CHECKING, Any

from .realtime import RealtimeSession

if TYPE_CHECKING:
    from .server import StandIn

LONG_POLL_PATH = "/.lp"
CLOSE_AT_ONCE = 'pLPCommand("close");'
KEEP_ALIVE = "/* nothing new */"


class BadPoll(ValueError):
    """A request the SDK would never send: the handler answers 400, and the script's load error
    makes the SDK drop the connection."""


def encode_message(message: Any) -> str:
    """What the SDK does to a message before cutting it into pieces (tests use it)."""
    text = json.dumps(message, separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(text.encode()).decode().replace("=", ".")


def decode_message(text: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(text.replace(".", "=").encode()).decode())
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadPoll("a message is not base64 of JSON") from None


def pieces_of(params: dict[str, str]) -> list[tuple[int, int, str]]:
    """(piece number, pieces in its message, data) for every ``seg<i>``/``ts<i>``/``d<i>``."""
    pieces = []
    index = 0
    while f"seg{index}" in params:
        try:
            number, total = int(params[f"seg{index}"]), int(params[f"ts{index}"])
            data = params[f"d{index}"]
        except (KeyError, ValueError):
            raise BadPoll(f"piece {index} needs seg, ts and d") from None
        if number < 0 or total < 1:
            raise BadPoll(f"piece {index} has a negative number or no total")
        pieces.append((number, total, data))
        index += 1
    return pieces


def _script_call(function: str, *arguments: Any) -> str:
    # ensure_ascii: the script is safe whatever charset the browser assumes, U+2028 included.
    return f"{function}({','.join(json.dumps(a, separators=(',', ':')) for a in arguments)});"


def disconnect_frame(transport_id: str, password: str) -> str:
    """The hidden frame's page: it says goodbye when it is unloaded."""
    url = json.dumps(f"{LONG_POLL_PATH}?disconn=t&id={transport_id}&pw={password}")
    return (
        "<!doctype html><html><head><meta charset='utf-8'></head><body><script>"
        f"addEventListener('pagehide', function () {{ navigator.sendBeacon({url}); }});"
        "</script></body></html>"
    )


class LongPollTransport:
    """One long-polling connection: the pieces coming in, the answers going out."""

    name = "long_polling"

    def __init__(self, standin: StandIn, session: RealtimeSession, callback_id: str) -> None:
        if not callback_id.isalnum():
            raise BadPoll("cb must be letters and digits")
        self.standin = standin
        self.session = session
        self.id = session.id
        self.callback_id = callback_id
        self.password = secrets.token_hex(8)
        self._state = threading.Condition()
        self._outbox: list[dict[str, Any]] = []
        self._next_answer = 0
        self._holder: int | None = None  # serial of the one poll allowed to wait
        # Another transport took over: what is queued still goes out, and the client's own "n"
        # (after whatever it had queued here) is awaited; then this one closes.
        self._finishing = False
        self._client_done = False
        self._closed = False
        self._polls_open = 0
        self._last_poll = time.monotonic()
        # Pieces in: kept until every earlier one has come, so messages run in the client's order.
        self._inbound = threading.Lock()
        self._pieces: dict[int, tuple[int, str]] = {}
        self._next_piece = 0
        self._message: list[str] = []
        self._message_pieces = 0
        self._watchdog = threading.Thread(target=self._watch, name=f"firebase-lp-{self.id}", daemon=True)

    # --- what the session and the server call ---------------------------------------------

    def deliver(self, message: dict[str, Any]) -> None:
        with self._state:
            if self._closed:
                return
            self._outbox.append(message)
            self._state.notify_all()

    def finish(self) -> None:
        """The session went to another transport: what is queued goes out, then ``close`` once
        the client has said it sends nothing more here (``client_done``)."""
        with self._state:
            self._finishing = True
            self._state.notify_all()

    def client_done(self) -> None:
        """The client's ``n`` came: it sends nothing more over this connection."""
        with self._state:
            self._client_done = True
            self._state.notify_all()

    def close(self) -> None:
        """Ends the connection now; waiting polls and later ones are told to close."""
        with self._state:
            self._closed = True
            self._outbox.clear()
            self._state.notify_all()
        self.standin._register_long_poll(self, False)

    def client_left(self) -> None:
        """The hidden frame said goodbye, or the polls stopped: as a socket closed by the client."""
        self.close()
        self.session.transport_ended(self)

    # --- requests ----------------------------------------------------------------------------

    def open(self) -> str:
        """The answer to ``start=t``: the callbacks, the id and password, and the hello."""
        self.standin._register_long_poll(self, True)
        self.session.attach(self)
        self._watchdog.start()
        forward = (
            "function {name}() {{ var page = parent.window['{name}{cb}'];"
            " if (page) page.apply(null, arguments); }}"
        )
        with self._state:
            answer = self._answer_locked()
        return "\n".join(
            [
                forward.format(name="pLPCommand", cb=self.callback_id),
                forward.format(name="pRTLPCB", cb=self.callback_id),
                _script_call("pLPCommand", "start", self.id, self.password),
                answer,
            ]
        )

    def poll(self, serial: int, pieces: list[tuple[int, int, str]], hold: float) -> str:
        """A poll: runs the messages its pieces complete, then waits up to ``hold`` seconds for
        something to answer."""
        with self._state:
            self._polls_open += 1
        try:
            self._take(pieces)
            return self._wait_for_answer(serial, hold)
        finally:
            with self._state:
                self._polls_open -= 1
                self._last_poll = time.monotonic()
                self._state.notify_all()  # the watchdog counts quiet time from now
                closed = self._closed
            if closed:
                # Not under self._state: the server's lock is always taken before a transport's.
                self.standin._register_long_poll(self, False)

    def _take(self, pieces: list[tuple[int, int, str]]) -> None:
        with self._inbound:
            for number, total, data in pieces:
                if number >= self._next_piece:
                    self._pieces.setdefault(number, (total, data))  # a repeat changes nothing
            while self._next_piece in self._pieces:
                total, data = self._pieces.pop(self._next_piece)
                self._next_piece += 1
                if not self._message:
                    self._message_pieces = total
                self._message.append(data)
                if len(self._message) == self._message_pieces:
                    text, self._message = "".join(self._message), []
                    self.session.receive(decode_message(text), self)

    def _wait_for_answer(self, serial: int, hold: float) -> str:
        deadline = time.monotonic() + hold
        with self._state:
            if self._holder is None or serial > self._holder:
                self._holder = serial
                self._state.notify_all()  # the poll that was waiting answers now
            try:
                while True:
                    if self._outbox or self._closed or self._over_locked():
                        return self._answer_locked()
                    remaining = deadline - time.monotonic()
                    if self._holder != serial or remaining <= 0:
                        return KEEP_ALIVE
                    self._state.wait(remaining)
            finally:
                if self._holder == serial:
                    self._holder = None

    def _answer_locked(self) -> str:
        """Holds ``self._state``: everything queued as the next answer, and ``close`` once the
        connection is over."""
        parts = []
        if self._outbox and not self._closed:
            parts.append(_script_call("pRTLPCB", self._next_answer, self._outbox))
            self._outbox = []
            self._next_answer += 1
        if self._closed or self._over_locked():
            if not self._closed:
                self._closed = True
                self._state.notify_all()
            # Answer 0 (the hello) always went out with the start; the client closes once it has
            # run every answer up to the last one.
            parts.append(_script_call("pLPCommand", "close", self._next_answer - 1))
        return "\n".join(parts) or KEEP_ALIVE

    def _over_locked(self) -> bool:
        return self._finishing and self._client_done and not self._outbox

    def _watch(self) -> None:
        idle = self.standin.long_poll_idle_seconds
        with self._state:
            while not self._closed:
                if self._polls_open:
                    self._state.wait(idle)  # a poll that ends wakes it
                    continue
                quiet = time.monotonic() - self._last_poll
                if quiet >= idle:
                    break
                self._state.wait(idle - quiet)
            else:
                return
        self.client_left()
