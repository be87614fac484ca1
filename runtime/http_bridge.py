"""Serves plain HTTP requests through Django's WSGI handler, one thread hop per request.

Django's ASGI handler runs each hook of each synchronous middleware through its own
sync_to_async hop; with the usual dozen hooks that cost ~4 ms a request here, against ~0.25 ms
for the same stack under WSGI. This bridge buffers the request body, runs the whole WSGI
request on the process's thread pool (runtime/threads.py), and sends the buffered response back.

Bodies: a body larger than DATA_UPLOAD_MAX_MEMORY_SIZE (the limit a WebSocket message has too,
runtime/workers.py) is refused with a JSON 413 before it is read on (by its Content-Length) or
as soon as it grows past the limit (a chunked one), and counted in
peardeck_messages_refused_total{transport="http", reason="too_large"}. The body handed to Django
is the one received, with its CONTENT_LENGTH: Django reads exactly CONTENT_LENGTH bytes, and a
chunked request has none of its own.

a2wsgi's WSGIMiddleware was measured against this bridge (bench/submit, alternating runs in one
sitting, README): it served /healthz at about a third of the rate (a thread round trip per
response message) and answers no faster, and it leaves a chunked body unread by Django as well.
WebSockets still go through Channels (peardeck/asgi.py); only plain request/response HTTP,
which is all our HTTP is, comes through here.

Two lanes: the teacher's session API (CONTROL_PATHS: locking, moving, revealing, the dashboard's
own reads) runs on a pool of its own (threads.control_pool), everything else (answers, students'
and projectors' polls, joins, pages) on the request pool. However many answers are queued, a
teacher's lock starts at once; in PostgreSQL it then waits at most for the answer transactions
already holding the session row.
"""

import asyncio
import io
import sys

from django.conf import settings

from observability import metrics
from runtime import threads

_TOO_LARGE = (
    b'{"error": {"code": "payload_too_large", "message": "The request body is larger than this server '
    b'accepts (%d bytes).", "field": "body"}}'
)

# Paths of the teacher's lane. Only teachers can use them (teacher_auth), so a student cannot
# crowd the lane; a teacher flooding it slows only teachers of this worker.
CONTROL_PATHS = ("/api/sessions",)


def lane_for(scope) -> str:
    """ "control" for the teacher's session API, "requests" for the rest."""
    return "control" if scope.get("path", "").startswith(CONTROL_PATHS) else "requests"


class WsgiOverAsgi:
    def __init__(self, wsgi_application):
        self.wsgi_application = wsgi_application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            raise ValueError(f"WsgiOverAsgi serves HTTP, not {scope['type']!r}")
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if _declared_length(scope) > limit:
            await _refuse_too_large(send, limit)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > limit:
                await _refuse_too_large(send, limit)
                return
            if not message.get("more_body"):
                break
        loop = asyncio.get_running_loop()
        pool = threads.control_pool() if lane_for(scope) == "control" else threads.pool()
        status, headers, content = await loop.run_in_executor(pool, self._run, scope, bytes(body))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    async def _lifespan(self, receive, send):
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                threads.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _run(self, scope, body: bytes):
        response = {}

        def start_response(status, headers, exc_info=None):
            response["status"] = int(status.split(" ", 1)[0])
            response["headers"] = [
                (name.lower().encode("latin1"), value.encode("latin1")) for name, value in headers
            ]
            return lambda data: chunks.append(data)

        chunks: list[bytes] = []
        result = self.wsgi_application(environ_for(scope, body), start_response)
        try:
            chunks.extend(result)
        finally:
            # Django's request_finished (which returns the database connection) fires on close().
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return response["status"], response["headers"], b"".join(chunks)


def _declared_length(scope) -> int:
    for name, value in scope.get("headers", []):
        if name == b"content-length" and value.strip().isdigit():
            return int(value)
    return 0


async def _refuse_too_large(send, limit: int) -> None:
    metrics.MESSAGES_REFUSED.labels(transport="http", reason="too_large").inc()
    # Connection: close, as the rest of the body is not read.
    await _send_simple(send, 413, _TOO_LARGE % limit, close=True)


async def _send_simple(send, status: int, body: bytes, *, close: bool = False) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def environ_for(scope, body: bytes) -> dict:
    """The WSGI environ (PEP 3333) for an ASGI HTTP scope."""
    server_name, server_port = scope.get("server") or ("localhost", 80)
    client = scope.get("client") or ("", 0)
    raw_path = scope.get("raw_path")
    path = (
        raw_path.split(b"?", 1)[0].decode("latin1")
        if raw_path
        else scope["path"].encode("utf8").decode("latin1")
    )
    root_path = scope.get("root_path", "")
    if root_path and path.startswith(root_path):
        path = path[len(root_path) :]
    environ = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": root_path.encode("utf8").decode("latin1"),
        "PATH_INFO": path,
        "QUERY_STRING": scope.get("query_string", b"").decode("latin1"),
        "SERVER_NAME": str(server_name),
        "SERVER_PORT": str(server_port),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "REMOTE_ADDR": client[0],
        "REMOTE_PORT": str(client[1]),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for raw_name, raw_value in scope.get("headers", []):
        name = raw_name.decode("latin1").upper().replace("-", "_")
        value = raw_value.decode("latin1")
        if name == "CONTENT_LENGTH":
            continue  # the body's own length, below
        key = "CONTENT_TYPE" if name == "CONTENT_TYPE" else f"HTTP_{name}"
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    # What Django reads of wsgi.input: all of the body received, chunked or not.
    environ["CONTENT_LENGTH"] = str(len(body))
    return environ
