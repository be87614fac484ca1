"""Gunicorn configuration: how production serves peardeck (uvicorn workers running the ASGI app).

Read by `gunicorn -c gunicorn.conf.py peardeck.asgi:application`; values come from the same
environment as the Django settings.
"""

import os
import shutil
from pathlib import Path

bind = os.environ.get("PEARDECK_BIND", "127.0.0.1:8000")
worker_class = "runtime.workers.PeardeckWorker"

# The in-memory channel layer cannot cross processes, so without Redis every socket and every
# broadcast must live in one worker. With Redis, one async worker per core.
if os.environ.get("REDIS_URL") or os.environ.get("REDIS_URL_FILE"):
    workers = int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 1))
else:
    workers = 1

# Seconds a worker gets on SIGTERM to close its sockets ("going away", WS_DRAIN_SECONDS of it)
# and finish requests in flight; see runtime/workers.py.
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

# Metrics: every worker writes its values to files here and the master serves their sum on
# PEARDECK_METRICS_BIND (see runtime/metrics_exporter.py). Set in os.environ before any worker
# forks, so `make run` gets correct multi-worker metrics too.
_var_dir = Path(os.environ.get("PEARDECK_VAR_DIR") or Path(__file__).resolve().parent / "var")
_multiproc_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or str(_var_dir / "prometheus-multiproc")
os.environ["PROMETHEUS_MULTIPROC_DIR"] = _multiproc_dir
_metrics_bind = os.environ.get("PEARDECK_METRICS_BIND", "127.0.0.1:9100")
_metrics_server = None


# The hooks below import what they use when gunicorn calls them: the master reads this file before
# anything else (and tests read it with runpy), and must not load Django or the metric objects.


def on_starting(server):
    # Metric files from an earlier run would be summed into this one's totals. Only what is inside
    # goes: in a pod the directory is a volume's mount point, which cannot be removed.
    path = Path(_multiproc_dir)
    path.mkdir(parents=True, exist_ok=True)
    for entry in path.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def when_ready(server):
    global _metrics_server
    from runtime.metrics_exporter import start_metrics_server

    _metrics_server = start_metrics_server(_metrics_bind, _multiproc_dir)


def post_fork(server, worker):
    # The worker inherits the master's metrics socket but never serves it.
    if _metrics_server is not None:
        _metrics_server.socket.close()


def post_worker_init(worker):
    # The app is loaded (Django is set up) by now. This file is the server's wiring: it hands the
    # runtime what only the apps know, so that runtime/ imports no app.
    from runtime.metrics_exporter import worker_started
    from sessions import kinds, selectors

    worker_started(
        _multiproc_dir,
        answer_kinds=kinds.ANSWERABLE_KINDS,
        count_open_sessions=selectors.count_open_sessions,
    )


def child_exit(server, worker):
    from prometheus_client import multiprocess

    from runtime.metrics_exporter import compact_dead_worker

    multiprocess.mark_process_dead(worker.pid, _multiproc_dir)
    compact_dead_worker(_multiproc_dir, worker.pid)
