"""The WebSocket adapter: /ws/sessions/<join code>/<role>/.

Authenticates in `connect`, says hello with the state the role starts from, relays session
events in the form the role may see (live/documents.py), and maps a student's `submit` to the
same service as HTTP. Close codes in the 4000s tell a client not to retry blindly:
4401 unauthenticated, 4403 removed, 4404 no such session, 4400 bad request. A shutting-down
server closes with 1001 ("going away"): reconnect, elsewhere.

Client messages: {"type": "submit", "question_id", "submission_id", "answer", "order"} (students),
{"type": "sync", "seq": n, "answers_seq": m} (anyone: "in_sync" when both match, else "state"),
{"type": "ping"}.
Messages are read by the API's JSON reader (domain.untrusted: 32 levels deep at most, finite
numbers) and are at most as large as an HTTP body (DATA_UPLOAD_MAX_MEMORY_SIZE; the server
closes a larger one with 1009 before it is read). Whatever a message holds, the answer is a
frame, an error frame at worst ({"type": "error", "code", "message"}), and the socket stays
open; a socket sending more than MESSAGES_PER_SECOND (burst MESSAGE_BURST) gets `rate_limited`
errors for the excess, which is dropped.
Revocation: a teacher socket closes (4401) when the API token or browser login it was opened
with is revoked or logged out, and a projector socket when its key is rotated.
Authentication: `?token=` in the URL, or a subprotocol "token.<token>" beside "peardeck.v1",
or (teachers) the browser's login cookie.

What every connection is guaranteed (the protocol's contract; the README says it for people):

1. Versions. The session's `seq` grows with every change of its state or roster; its
   `answers_seq` grows with every change of an answer (an answer stored, a student removed).
   Both only grow, and each is bumped under the session row's lock, so commit order is version
   order. `hello`, `state`, `in_sync` and every event carry `seq`; those of roles that see
   answers (teacher, projector, a student's own answer) carry `answers_seq` too, and a document
   or tally shows exactly what its snapshot held at the versions it carries.
2. Subscribe, then read. A socket joins its session's group before it reads the state its hello
   carries: a change that commits after that read reaches it as an event after the hello. An
   event may also arrive that the hello already shows (it committed between the join and the
   read); it is older or equal by version, and clients drop it.
3. Every seq-bumping event reaches every role in some form (live/documents.py), so a gap in
   `seq` means a lost event: the client asks (`sync`) and gets the state.
4. Tally events (teachers; the projector, tallies filtered to revealed questions) carry the
   `answers_seq` of the snapshot they were built from and `covers`, the answers_seq ranges whose
   changes they bring. Workers publish independently, so they may arrive out of order: a client
   keeps a tally only if its answers_seq is not below the one it holds, and a range that stays
   missing means a lost event (it syncs).
5. Reconnect: `?since=<seq>&answers_since=<answers_seq>`. The hello carries the full state
   unless the client holds every version the role's document has; `sync` compares the same way.
   So a socket that comes back learns everything it missed, answers included.
6. A student's answers carry the student's own `order`; the server keeps, per question, the
   answer with the highest order whichever transport each took. An older one arriving later is
   answered `submitted` with `"superseded": true` and the answer and version the server holds.
7. Teacher actions never queue behind answers: they come over HTTP on a thread lane of their
   own (runtime/http_bridge.py); in PostgreSQL a lock waits at most for the answer batch that
   holds the session row.
"""

import json
import logging
import time
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder

from domain import untrusted
from domain.errors import DomainError
from domain.tokens import token_hash
from live import documents
from live.services import identify_socket
from observability import metrics
from responses.models import WS
from responses.services import submit_response_async
from runtime import broadcast, threads
from runtime.snapshot import snapshot
from sessions.models import Session, Student

log = logging.getLogger(__name__)

PROTOCOL = "peardeck.v1"
VERSIONS = ("seq", "answers_seq")
CLOSE_BY_CODE = {
    "not_authenticated": 4401,
    "student_removed": 4403,
    "session_not_found": 4404,
    "not_found": 4400,
}


# A socket's own budget of messages: a page sends a handful a minute; a loop in a console would
# otherwise turn each `sync` into a database read at will.
MESSAGES_PER_SECOND = 10.0
MESSAGE_BURST = 30.0


def _state_for(session_id: int, student, role: str) -> dict:
    """The role's document, read now in one snapshot. A student removed since they were identified
    is refused here: their removal event may have gone out before the socket joined the group."""
    if role == documents.STUDENT:
        with snapshot():
            if Student.objects.filter(pk=student.pk, removed_at__isnull=False).exists():
                raise DomainError("student_removed", "The teacher removed you from this session.")
            return documents.student_view(student)
    if role == documents.TEACHER:
        return documents.dashboard_state(Session(pk=session_id))
    return documents.projector_state(Session(pk=session_id))


def _identify(scope, join_code: str, role: str, token: str):
    return identify_socket(join_code=join_code, role=role, user=scope.get("user"), token=token)


def versions_of(document: dict) -> dict:
    """The versions a document (or event) carries: `seq` always, `answers_seq` where the role
    sees answers (teacher, projector, and a student's own answer)."""
    return {name: document[name] for name in VERSIONS if name in document}


def held_versions(query: dict) -> dict:
    """The versions a reconnecting client says it holds: ?since=<seq>&answers_since=<answers_seq>."""
    held = {}
    for name, parameter in (("seq", "since"), ("answers_seq", "answers_since")):
        value = query.get(parameter, [""])[0]
        if value.isascii() and value.isdigit():  # isdigit() alone takes "²", which int() refuses
            held[name] = int(value)
    return held


def holds_all(held: dict, current: dict) -> bool:
    """True when the client holds exactly every version the role's document carries now; any
    version missing or different means it gets the document."""
    return all(held.get(name) == value for name, value in current.items())


class SessionConsumer(AsyncJsonWebsocketConsumer):
    role: str = ""
    session_id: int | None = None
    student = None
    # What opened the socket, to close it when that is revoked: ("token" | "login" | "key", hash).
    credential: tuple[str, str] | None = None
    groups: list[str] = []  # the channel-layer groups the socket is in, once connected
    allowance: float = MESSAGE_BURST
    allowance_at: float = 0.0
    throttled_until: float = 0.0

    async def connect(self):
        kwargs = self.scope["url_route"]["kwargs"]
        self.role = kwargs["role"] if kwargs["role"] in documents.ROLES else "unknown"
        query = parse_qs(self.scope.get("query_string", b"").decode())
        offered = self.scope.get("subprotocols", [])
        token = next((p.removeprefix("token.") for p in offered if p.startswith("token.")), "")
        token = token or query.get("token", [""])[0]
        await self.accept(PROTOCOL if PROTOCOL in offered else None)
        groups: list[str] = []
        try:
            session, self.student = await threads.in_pool(_identify)(
                self.scope, kwargs["join_code"], self.role, token
            )
            # Subscribe, then read: an event published from here on is either in the state read
            # below or delivered after the hello (this handler finishes before the next message
            # is handled), never lost in between. Clients drop what is older than the hello.
            groups.append(broadcast.group_name(session.pk))
            if self.role in (documents.TEACHER, documents.PROJECTOR):
                groups.append(broadcast.watchers_group_name(session.pk))
            if self.role == documents.TEACHER:
                groups.append(broadcast.teacher_group_name(session.teacher_id))
            for group in groups:
                await self.channel_layer.group_add(group, self.channel_name)
            state = await threads.in_pool(_state_for)(session.pk, self.student, self.role)
        except DomainError as refusal:
            await self._leave(groups)
            metrics.WEBSOCKET_CONNECTS.labels(role=self._role_label(), outcome="refused").inc()
            await self.send_json({"type": "refused", "code": refusal.code, "message": refusal.message})
            await self.close(code=CLOSE_BY_CODE.get(refusal.code, 4403))
            return
        except Exception:
            await self._leave(groups)
            metrics.WEBSOCKET_CONNECTS.labels(role=self._role_label(), outcome="failed").inc()
            log.exception("WebSocket connect failed")
            await self.send_json({"type": "error", "code": "internal", "message": _INTERNAL})
            await self.close(code=1011)
            return
        self.session_id = session.pk
        self.groups = groups
        self.credential = _credential(self.scope, self.role, token)
        self._travel_light()
        broadcast.socket_opened(self)
        metrics.WEBSOCKET_CONNECTS.labels(role=self.role, outcome="accepted").inc()
        metrics.WEBSOCKET_CONNECTIONS.labels(role=self.role).inc()
        current = versions_of(state)
        unchanged = holds_all(held_versions(query), current)
        await self.send_json(
            {"type": "hello", "role": self.role, **current, "state": None if unchanged else state}
        )

    async def _leave(self, groups: list[str]) -> None:
        for group in groups:
            await self.channel_layer.group_discard(group, self.channel_name)

    @classmethod
    async def encode_json(cls, content):
        return json.dumps(content, cls=DjangoJSONEncoder)

    @classmethod
    async def decode_json(cls, text_data):
        return untrusted.loads(text_data)

    def _travel_light(self) -> None:
        """An idle socket should cost little memory: once identified, drop what connect needed
        (headers, cookies, the login session, the user) and keep the student without relations."""
        for key in ("headers", "cookies", "session", "user", "subprotocols", "query_string"):
            self.scope.pop(key, None)
        if self.student is not None:
            self.student = type(self.student)(
                pk=self.student.pk, session_id=self.student.session_id, display_name=self.student.display_name
            )

    def _role_label(self) -> str:
        return self.role if self.role in documents.ROLES else "unknown"

    async def disconnect(self, code):
        if self.session_id is None:
            return
        if code == 1009:  # the server closed it: a message larger than ws_max_size (runtime/workers.py)
            metrics.MESSAGES_REFUSED.labels(transport="websocket", reason="too_large").inc()
        broadcast.socket_closed(self)
        metrics.WEBSOCKET_CONNECTIONS.labels(role=self.role).dec()
        await self._leave(self.groups)
        self.session_id = None

    async def receive_json(self, content, **kwargs):
        if self.session_id is None:
            return
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "ping":
            await self.send_json({"type": "pong"})
        elif kind == "sync":
            await self._send_state_if_behind(content)
        elif kind == "submit" and self.role == documents.STUDENT:
            await self._submit(content)
        else:
            shown = untrusted.printable(kind, 40) if isinstance(kind, str) else type(kind).__name__
            await self.send_json(
                {"type": "error", "code": "unknown_message", "message": f"Cannot handle {shown!r}."}
            )

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        if self.session_id is None:
            return
        if not self._within_budget():
            await self._refuse("rate_limited", "rate_limited", "Too many messages; slow down.")
            return
        if text_data is not None and len(text_data) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            # The server closes anything over this in bytes first (1009); characters are fewer.
            await self._refuse(
                "too_large", "payload_too_large", "The message is larger than this server accepts."
            )
            return
        try:
            await super().receive(text_data=text_data, bytes_data=bytes_data, **kwargs)
        except untrusted.UnreadableJson as unreadable:
            await self._refuse(unreadable.reason, "malformed_json", unreadable.message)
        except ValueError:  # a binary frame
            await self._refuse("malformed", "malformed_json", "Messages are JSON objects.")
        except Exception:
            # A bug must not cost the student their socket: they get an error and can go on.
            log.exception("a %s socket's message failed", self.role)
            await self.send_json({"type": "error", "code": "internal", "message": _INTERNAL})

    def _within_budget(self) -> bool:
        now = time.monotonic()
        self.allowance = min(MESSAGE_BURST, self.allowance + (now - self.allowance_at) * MESSAGES_PER_SECOND)
        self.allowance_at = now
        if self.allowance < 1:
            return False
        self.allowance -= 1
        return True

    async def _refuse(self, reason: str, code: str, message: str) -> None:
        metrics.MESSAGES_REFUSED.labels(transport="websocket", reason=reason).inc()
        if reason == "rate_limited":
            # One error a second while it lasts, not one for each message dropped.
            now = time.monotonic()
            if now < self.throttled_until:
                return
            self.throttled_until = now + 1.0
        await self.send_json({"type": "error", "code": code, "message": message})

    async def _send_state_if_behind(self, content: dict):
        try:
            state = await threads.in_pool(_state_for)(self.session_id, self.student, self.role)
        except DomainError as refusal:
            await self.send_json({"type": "error", **refusal.as_dict()})
            await self.close(code=CLOSE_BY_CODE.get(refusal.code, 4403))
            return
        current = versions_of(state)
        held = {
            name: content.get(name)
            for name in VERSIONS
            if isinstance(content.get(name), int) and not isinstance(content.get(name), bool)
        }
        if holds_all(held, current):
            await self.send_json({"type": "in_sync", **current})
        else:
            await self.send_json({"type": "state", **current, "state": state})

    async def _submit(self, content):
        submission_id = content.get("submission_id")
        # Echoed back with the outcome; anything but a plausible id is not.
        echoed = submission_id if isinstance(submission_id, str) and len(submission_id) <= 64 else None
        try:
            submitted = await submit_response_async(
                student=self.student,
                question_id=content.get("question_id"),
                submission_id=submission_id,
                answer=content.get("answer"),
                source=WS,
                order=content.get("order"),
            )
        except DomainError as refusal:
            await self.send_json({"type": "error", "submission_id": echoed, **refusal.as_dict()})
            if refusal.code == "student_removed":
                await self.close(code=4403)
            return
        response = submitted.response
        await self.send_json(
            {
                "type": "submitted",
                "submission_id": submission_id,
                "question_id": response.question_id,
                "answer": response.answer,
                "version": response.version,
                "duplicate": submitted.duplicate,
                # A later answer of this student (by their order) is stored: `answer` is that one.
                "superseded": submitted.superseded,
            }
        )

    async def dispatch(self, message):
        # Channels closes stale database connections (a thread hop) before every handler; a
        # broadcast touches no database, and skipping the hop is what lets one event reach a
        # thousand sockets quickly. Handlers that do use the database go through
        # threads.in_pool, which does its own closing. Received messages skip the hop too: in a
        # burst of answers it took a third of the event loop's time (py-spy, bench/burst).
        if message["type"] in ("session.event", "websocket.receive"):
            handler = self.session_event if message["type"] == "session.event" else self.websocket_receive
            await handler(message)
        else:
            await super().dispatch(message)

    async def credentials_revoked(self, message):
        if self.credential is not None and list(self.credential) in message["credentials"]:
            await self._close_revoked("Your API token was revoked or your login ended.")

    async def projector_key_rotated(self, message):
        if self.role == documents.PROJECTOR and self.credential != ("key", message["key_hash"]):
            await self._close_revoked("The projector key was replaced; open the projector again.")

    async def _close_revoked(self, why: str) -> None:
        await self.send_json({"type": "refused", "code": "not_authenticated", "message": why})
        await self.close(code=CLOSE_BY_CODE["not_authenticated"])

    async def session_event(self, message):
        student_id = self.student.pk if self.student is not None else None
        event = documents.for_role(message["event"], self.role, student_id)
        if event is None:
            return
        await self.send_json(event)
        if event["type"] == "removed":
            await self.close(code=4403)


_INTERNAL = "Something went wrong on our side; it has been logged."


def _credential(scope, role: str, token: str) -> tuple[str, str] | None:
    """What a socket was opened with, as its revocation will name it (hashes only)."""
    if role == documents.TEACHER:
        user, login = scope.get("user"), scope.get("session")
        if user is not None and user.is_authenticated:
            key = getattr(login, "session_key", None)
            return ("login", token_hash(key)) if key else None
        return ("token", token_hash(token))
    if role == documents.PROJECTOR:
        return ("key", token_hash(token))
    return None
