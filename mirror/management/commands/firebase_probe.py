"""manage.py firebase_probe --location NAME: Firebase latency and failures, seen from one place.

Deployed once per location (deploy/base/firebase-probe); exports its metrics on --metrics-port.
"""

import signal
import threading
import time

from django.core.management.base import BaseCommand, CommandError
from prometheus_client import start_http_server

from integrations import firebase
from mirror.probe import LOCATION, probe_once


class Command(BaseCommand):
    help = "Write and read a probe node in Firebase in a loop, exporting latency and failures."

    def add_arguments(self, parser):
        parser.add_argument("--location", required=True, help="where this probe runs, e.g. europe-west1")
        parser.add_argument("--metrics-port", type=int, default=9100)
        parser.add_argument("--metrics-address", default="0.0.0.0")  # noqa: S104 - scraped by Prometheus
        parser.add_argument("--interval", type=float, default=15.0, help="seconds between rounds")
        parser.add_argument(
            "--timeout",
            type=float,
            default=5.0,
            help="HTTP timeout; a silent server fails after about twice it",
        )
        parser.add_argument("--rounds", type=int, default=0, help="stop after this many rounds (0: never)")

    def handle(self, *args, **options):
        location = options["location"]
        if not LOCATION.match(location):
            raise CommandError("--location must be 1-40 lowercase letters, digits and dashes")
        if not firebase.is_enabled():
            raise CommandError("Firebase is off (FIREBASE_DATABASE_URLS is empty): nothing to probe")
        if options["metrics_port"]:
            start_http_server(options["metrics_port"], addr=options["metrics_address"])
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        self.stdout.write(f"probing {firebase.shard_count()} shard(s) from {location}")
        self.stdout.flush()
        rounds = 0
        while not stop.is_set():
            started = time.monotonic()
            for result in probe_once(location=location, timeout=options["timeout"]):
                outcome = "ok" if result.ok else f"failed ({result.reason})"
                self.stdout.write(
                    f"shard {result.shard}: {outcome} write={_ms(result.write_seconds)} "
                    f"read={_ms(result.read_seconds)}"
                )
            self.stdout.flush()
            rounds += 1
            if options["rounds"] and rounds >= options["rounds"]:
                break
            stop.wait(max(0.0, options["interval"] - (time.monotonic() - started)))


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f}ms"
