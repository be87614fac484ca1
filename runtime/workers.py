"""The gunicorn worker class: uvicorn's, with WebSocket heartbeats and a polite shutdown.

On SIGTERM (a rollout, a scale-down) the worker stops accepting, closes every open socket with
1001 "going away" so clients reconnect to another pod at once, waits up to WS_DRAIN_SECONDS for
them to go, and only then lets uvicorn finish requests in flight. Uvicorn alone would cut the
sockets with 1012. Heartbeats: uvicorn pings every WS_PING_INTERVAL seconds and drops a socket
whose pong does not come within WS_PING_TIMEOUT, so dead clients do not pile up. Messages are
not compressed (see CONFIG_KWARGS).
"""

import os
import sys

from gunicorn.arbiter import Arbiter
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker

GOING_AWAY = 1001


def _seconds(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


class DrainingServer(Server):
    async def shutdown(self, sockets=None):
        for server in self.servers:
            server.close()
        # Imported here, in the worker at shutdown: gunicorn's master imports this module to find
        # the worker class, and broadcast brings in the metric objects, which must never be made in
        # the master (runtime/metrics_exporter.py says why).
        from runtime import broadcast

        await broadcast.close_all_sockets(GOING_AWAY, timeout=_seconds("WS_DRAIN_SECONDS", 10))
        await super().shutdown(sockets)


class PeardeckWorker(UvicornWorker):
    CONFIG_KWARGS = {
        "loop": "auto",
        "http": "auto",
        "ws_ping_interval": _seconds("WS_PING_INTERVAL", 20),
        "ws_ping_timeout": _seconds("WS_PING_TIMEOUT", 20),
        # Our messages are small JSON; per-message compression saved little and cost each socket
        # its own zlib state: bench/fanout measured 88 KiB per idle socket with it, 49 KiB without,
        # and a 1,000-socket broadcast p99 of 265 ms with it, 135 ms without.
        "ws_per_message_deflate": False,
        # The same limit as an HTTP body (DATA_UPLOAD_MAX_MEMORY_SIZE, the same variable): a larger
        # message closes the socket with 1009 before anything reads it (uvicorn's default, 16 MiB,
        # let one student make a worker parse and validate a 13 MB drawing, ~2 s, at will).
        "ws_max_size": int(os.environ.get("PEARDECK_MAX_BODY_BYTES", 512 * 1024)),
    }

    async def _serve(self) -> None:

        self.config.app = self.wsgi
        server = DrainingServer(config=self.config)
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
