"""Runs the stand-in by hand or for a benchmark: python -m tests.firebase_standin --port 9000"""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from .server import StandIn


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Local Firebase stand-in: Realtime Database (REST, event streams, the browser "
        "SDK's WebSocket and long polling) and the Auth emulator's custom-token endpoints, on one port."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000, help="0 picks a free port")
    parser.add_argument("--keepalive", type=float, default=30.0, help="seconds between keep-alive events")
    parser.add_argument(
        "--require-owner",
        action="store_true",
        help="answer 401 unless the request carries the emulator owner credential",
    )
    parser.add_argument(
        "--custom-token-key",
        action="append",
        type=Path,
        metavar="PEM",
        help="public key (PEM file) whose custom tokens are accepted; repeatable; none: accept any",
    )
    parser.add_argument("--id-token-seconds", type=int, default=3600, help="lifetime of issued ID tokens")
    parser.add_argument("--project", default="peardeck-test", help="project id in issued ID tokens")
    parser.add_argument(
        "--long-poll-seconds",
        type=float,
        default=20.0,
        help="how long a long poll waits before its empty answer",
    )
    parser.add_argument(
        "--long-poll-idle-seconds",
        type=float,
        default=30.0,
        help="how long a long-polling client may have no poll open before it counts as gone",
    )
    args = parser.parse_args(argv)
    standin = StandIn(
        args.host,
        args.port,
        keepalive_seconds=args.keepalive,
        accepted_tokens={"owner"} if args.require_owner else None,
        project_id=args.project,
        custom_token_keys=[path.read_bytes() for path in args.custom_token_key or []] or None,
        id_token_seconds=args.id_token_seconds,
        long_poll_seconds=args.long_poll_seconds,
        long_poll_idle_seconds=args.long_poll_idle_seconds,
    ).start()
    print(f"firebase stand-in listening on http://{standin.address}", flush=True)
    print(f"  export FIREBASE_DATABASE_EMULATOR_HOST={standin.address}", flush=True)
    print(f"  browser: connectDatabaseEmulator(db, '{standin.host}', {standin.port})", flush=True)
    print(f"           connectAuthEmulator(auth, 'http://{standin.address}')", flush=True)
    print(f"  control: curl http://{standin.address}/.standin/stats", flush=True)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    stopping.wait()
    standin.stop()


if __name__ == "__main__":
    main()
