"""manage.py firebase_worker: relays the outbox to Firebase and ingests student inboxes.

Exactly one must run (deploy/base/firebase-worker: one replica, Recreate). It serves its metrics
on --metrics-port and keeps running with Firebase off, reporting an empty backlog.
"""

import logging
import os
import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand
from prometheus_client import start_http_server

from integrations import firebase
from mirror.worker import FirebaseWorker
from runtime import threads

log = logging.getLogger(__name__)


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


class Command(BaseCommand):
    help = "Relay the outbox to Firebase and ingest student answers from the inbox."

    def add_arguments(self, parser):
        parser.add_argument("--metrics-port", type=int, default=9100)
        parser.add_argument("--metrics-address", default="0.0.0.0")  # noqa: S104 - scraped by Prometheus
        parser.add_argument(
            "--interval", type=float, default=0.25, help="seconds between flushes (Firebase writes per shard)"
        )
        parser.add_argument("--batch-size", type=int, default=1000)

    def handle(self, *args, **options):
        if options["metrics_port"]:
            start_http_server(options["metrics_port"], addr=options["metrics_address"])
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        worker = FirebaseWorker(batch_size=options["batch_size"])
        pool = settings.DATABASES["default"].get("OPTIONS", {}).get("pool")
        # The loop's thread, the answer writer and the dashboard-update threads use the pool.
        needed = 2 + threads.UPDATE_THREADS
        if isinstance(pool, dict) and pool.get("max_size", 0) < needed:
            # Threads beyond the pool wait for a connection (and fail after DATABASE_POOL_TIMEOUT).
            log.warning("DATABASE_POOL_MAX (%s) is below %d", pool.get("max_size"), needed)
        state = f"{firebase.shard_count()} shard(s)" if firebase.is_enabled() else "Firebase off"
        self.stdout.write(f"firebase worker running ({state}), metrics on :{options['metrics_port']}")
        self.stdout.flush()
        worker.run(interval=options["interval"], stop=stop)
        worker.close()
        self.stdout.write("firebase worker stopped")
        self.stdout.flush()
        if any(
            thread.is_alive() and not thread.daemon
            for thread in threading.enumerate()
            if thread is not threading.main_thread()
        ):
            # The SDK's listener threads are not daemons and may still wait on a stream.
            os._exit(0)
