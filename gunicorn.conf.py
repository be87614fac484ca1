"""Gunicorn configuration: how production serves peardeck (uvicorn workers running the ASGI app).

Read by `gunicorn -c gunicorn.conf.py peardeck.asgi:application`; values come from the same
environment as the Django settings.
"""

import os
import shutil
from pathlib import Path

bind = os.environ.get("PEARDECK_BIND", "127.0.0.1:8000")
worker_class = "peardeck.workers.PeardeckWorker"

# The in-memory channel layer cannot cross processes, so without Redis every socket and every
# broadcast must live in one worker. With Redis, one async worker per core.
if os.environ.get("REDIS_URL") or os.environ.get("REDIS_URL_FILE"):
    workers = int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 1))
else:
    workers = 1

# Seconds a worker gets on SIGTERM to close its sockets ("going away", WS_DRAIN_SECONDS of it)
# and finish requests in flight; see peardeck/workers.py.
graceful_timeout = int(os.environ.get("GRACEFUL_TIMEOUT", "25"))
timeout = int(os.environ.get("WORKER_TIMEOUT", "60"))
keepalive = 75  # longer than the load balancer's idle timeout, so it never reuses a closed connection
# The runtime control socket wants a writable home directory; pods run read-only and need none.
control_socket_disable = True
accesslog = os.environ.get("ACCESS_LOG", None)
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# Restart workers now and then so a slow leak cannot grow without bound; jitter spreads restarts.
max_requests = int(os.environ.get("MAX_REQUESTS", "0"))
max_requests_jitter = max_requests // 10

_multiproc_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")


def on_starting(server):
    # Metric files from an earlier run would be summed into this one's totals.
    if _multiproc_dir:
        path = Path(_multiproc_dir)
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)


def child_exit(server, worker):
    if _multiproc_dir:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
