"""Runs the stand-in by hand or for a benchmark: python -m tests.firebase_standin --port 9000"""

from __future__ import annotations

import argparse
import signal
import threading

from .server import StandIn


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Local Firebase Realtime Database stand-in (REST + streaming)."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000, help="0 picks a free port")
    parser.add_argument("--keepalive", type=float, default=30.0, help="seconds between keep-alive events")
    parser.add_argument(
        "--require-owner",
        action="store_true",
        help="answer 401 unless the request carries the emulator owner credential",
    )
    args = parser.parse_args(argv)
    standin = StandIn(
        args.host,
        args.port,
        keepalive_seconds=args.keepalive,
        accepted_tokens={"owner"} if args.require_owner else None,
    ).start()
    print(f"firebase stand-in listening on http://{standin.address}", flush=True)
    print(f"  export FIREBASE_DATABASE_EMULATOR_HOST={standin.address}", flush=True)
    print(f"  control: curl http://{standin.address}/.standin/stats", flush=True)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    stopping.wait()
    standin.stop()


if __name__ == "__main__":
    main()
