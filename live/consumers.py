"""The WebSocket adapter: /ws/sessions/<join code>/<role>/.

Authenticates in `connect`, says hello with the state the role starts from, relays session
events in the form the role may see (live/documents.py), and maps a student's `submit` to the
same service as HTTP. Close codes in the 4000s tell a client not to retry blindly:
4401 unauthenticated, 4403 removed, 4404 no such session, 4400 bad request. A shutting-down
server closes with 1001 ("going away"): reconnect, elsewhere.

Client messages: {"type": "submit", "question_id", "submission_id", "answer"} (students),
{"type": "sync", "seq": n} (anyone: answers "state" when n is behind), {"type": "ping"}.
Authentication: `?token=` in the URL, or a subprotocol "token.<token>" beside "peardeck.v1",
or (teachers) the browser's login cookie. `?since=<seq>` on reconnect skips an unchanged state.
"""

import json
import logging
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.core.serializers.json import DjangoJSONEncoder

from domain.errors import DomainError
from live import documents
from live.services import identify_socket
from observability import metrics
from responses.models import WS
from responses.services import submit_response_async
from runtime import broadcast, threads
from sessions.models import Session

log = logging.getLogger(__name__)

PROTOCOL = "peardeck.v1"
CLOSE_BY_CODE = {
    "not_authenticated": 4401,
    "student_removed": 4403,
    "session_not_found": 4404,
    "not_found": 4400,
}


def _state_for(session, student, role: str) -> dict:
    """`session` was read just now; a student held by an open socket is re-read."""
    if role == documents.TEACHER:
        return documents.dashboard_state(session)
    if role == documents.STUDENT:
        student.refresh_from_db()
        return documents.student_view(student)
    return documents.projector_state(session)


def _identify(scope, join_code: str, role: str, token: str):
    session, student = identify_socket(join_code=join_code, role=role, user=scope.get("user"), token=token)
    return session, student, _state_for(session, student, role)


class SessionConsumer(AsyncJsonWebsocketConsumer):
    role: str = ""
    session_id: int | None = None
    student = None

    async def connect(self):
        kwargs = self.scope["url_route"]["kwargs"]
        self.role = kwargs["role"] if kwargs["role"] in documents.ROLES else "unknown"
        query = parse_qs(self.scope.get("query_string", b"").decode())
        offered = self.scope.get("subprotocols", [])
        token = next((p.removeprefix("token.") for p in offered if p.startswith("token.")), "")
        token = token or query.get("token", [""])[0]
        await self.accept(PROTOCOL if PROTOCOL in offered else None)
        try:
            session, self.student, state = await threads.in_pool(_identify)(
                self.scope, kwargs["join_code"], self.role, token
            )
        except DomainError as refusal:
            metrics.WEBSOCKET_CONNECTS.labels(role=self._role_label(), outcome="refused").inc()
            await self.send_json({"type": "refused", "code": refusal.code, "message": refusal.message})
            await self.close(code=CLOSE_BY_CODE.get(refusal.code, 4403))
            return
        except Exception:
            metrics.WEBSOCKET_CONNECTS.labels(role=self._role_label(), outcome="failed").inc()
            log.exception("WebSocket connect failed")
            await self.close(code=1011)
            return
        self.session_id = session.pk
        self._travel_light()
        await self.channel_layer.group_add(broadcast.group_name(self.session_id), self.channel_name)
        broadcast.socket_opened(self)
        metrics.WEBSOCKET_CONNECTS.labels(role=self.role, outcome="accepted").inc()
        metrics.WEBSOCKET_CONNECTIONS.labels(role=self.role).inc()
        since = query.get("since", [""])[0]
        unchanged = since.isdigit() and int(since) == state["seq"]
        await self.send_json(
            {"type": "hello", "role": self.role, "seq": state["seq"], "state": None if unchanged else state}
        )

    @classmethod
    async def encode_json(cls, content):
        return json.dumps(content, cls=DjangoJSONEncoder)

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
        broadcast.socket_closed(self)
        metrics.WEBSOCKET_CONNECTIONS.labels(role=self.role).dec()
        await self.channel_layer.group_discard(broadcast.group_name(self.session_id), self.channel_name)
        self.session_id = None

    async def receive_json(self, content, **kwargs):
        if self.session_id is None:
            return
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "ping":
            await self.send_json({"type": "pong"})
        elif kind == "sync":
            await self._send_state_if_behind(content.get("seq"))
        elif kind == "submit" and self.role == documents.STUDENT:
            await self._submit(content)
        else:
            await self.send_json(
                {"type": "error", "code": "unknown_message", "message": f"Cannot handle {kind!r}."}
            )

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        try:
            await super().receive(text_data=text_data, bytes_data=bytes_data, **kwargs)
        except ValueError:
            await self.send_json(
                {"type": "error", "code": "malformed_json", "message": "Messages are JSON objects."}
            )

    async def _send_state_if_behind(self, seq):
        state = await threads.in_pool(_state_for_socket)(self)
        if isinstance(seq, int) and seq == state["seq"]:
            await self.send_json({"type": "in_sync", "seq": seq})
        else:
            await self.send_json({"type": "state", "seq": state["seq"], "state": state})

    async def _submit(self, content):
        submission_id = content.get("submission_id")
        try:
            submitted = await submit_response_async(
                student=self.student,
                question_id=content.get("question_id"),
                submission_id=submission_id,
                answer=content.get("answer"),
                source=WS,
            )
        except DomainError as refusal:
            await self.send_json({"type": "error", "submission_id": submission_id, **refusal.as_dict()})
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

    async def session_event(self, message):
        student_id = self.student.pk if self.student is not None else None
        event = documents.for_role(message["event"], self.role, student_id)
        if event is None:
            return
        await self.send_json(event)
        if event["type"] == "removed":
            await self.close(code=4403)


def _state_for_socket(consumer: SessionConsumer) -> dict:
    return _state_for(Session.objects.get(pk=consumer.session_id), consumer.student, consumer.role)
