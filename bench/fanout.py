"""Starts peardeck as production does (gunicorn + uvicorn workers, PostgreSQL, Redis) on
127.0.0.1, connects N student WebSockets to one session, then has the teacher move to the next
question several times and measures, for each move, how long until every socket has it.

Memory per idle socket is the growth of the workers' resident memory while the N sockets are
open and idle, divided by N. Everything is bounded in count and time and targets 127.0.0.1 only.
"""

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import websockets

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.submit import ADMIN_URL, REDIS_URL, workers_cpu  # noqa: E402
from tests.support.classroom import open_class_async, sign_up_teacher_async, text_questions  # noqa: E402
from tests.support.server import fresh_postgres_database, running_server  # noqa: E402


def worker_rss_kib(master_pid: int) -> int:
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    total = 0
    for pid in children:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def run(base: str, master_pid: int, students: int, rounds: int) -> dict:
    api = f"{base}/api"
    async with httpx.AsyncClient(base_url=api, timeout=30) as http:
        teacher_account = await sign_up_teacher_async(http, username="fanout")
        live = await open_class_async(
            http,
            teacher=teacher_account,
            title="fanout",
            questions=text_questions(*(f"q{n}" for n in range(rounds + 1))),
            students=[f"s{n}" for n in range(students)],
        )
        teacher, session, tokens = teacher_account.headers, live.session, live.tokens

        await asyncio.sleep(1)
        rss_before = worker_rss_kib(master_pid)
        ws_base = base.replace("http://", "ws://")
        sockets = []
        for index in range(0, students, 100):  # connect in waves so the accept queue keeps up
            batch = [
                websockets.connect(
                    f"{ws_base}/ws/sessions/{session['join_code']}/student/?token={token}",
                    origin=base,
                    open_timeout=60,
                    max_queue=64,
                )
                for token in tokens[index : index + 100]
            ]
            sockets += await asyncio.gather(*batch)
        await asyncio.gather(*(ws.recv() for ws in sockets))  # every hello
        await asyncio.sleep(3)
        rss_after = worker_rss_kib(master_pid)

        results = []
        cpu_spent = 0.0
        for round_number in range(rounds):
            arrivals: list[float] = []

            async def wait_for_question(ws, arrivals=arrivals):
                while True:
                    message = json.loads(await asyncio.wait_for(ws.recv(), timeout=30))
                    if message["type"] == "question_changed":
                        arrivals.append(time.perf_counter())
                        return

            waiting = [asyncio.create_task(wait_for_question(ws)) for ws in sockets]
            await asyncio.sleep(0.5)
            cpu_before = workers_cpu(master_pid)
            started = time.perf_counter()
            await http.post(f"/sessions/{session['id']}/next", headers=teacher)
            answered = (time.perf_counter() - started) * 1000
            await asyncio.gather(*waiting)
            cpu_spent += workers_cpu(master_pid) - cpu_before
            delays = [(arrival - started) * 1000 for arrival in arrivals]
            results.append(delays)
            print(
                f"round {round_number + 1}: {len(delays)} sockets  teacher's POST {answered:5.1f} ms  "
                f"first {min(delays):6.1f} ms  p50 {percentile(delays, 0.5):6.1f} ms  "
                f"p99 {percentile(delays, 0.99):6.1f} ms  max {max(delays):6.1f} ms"
            )
            await asyncio.sleep(0.5)
        for ws in sockets:
            await ws.close()

    per_socket = (rss_after - rss_before) * 1024 / students
    p99s = [percentile(delays, 0.99) for delays in results]
    print(
        f"\nsockets {students}; median of per-round p99 {statistics.median(p99s):.1f} ms (target <= 250 ms)"
    )
    print(f"worker RSS {rss_before / 1024:.1f} MiB idle -> {rss_after / 1024:.1f} MiB with sockets open")
    print(f"memory per idle socket {per_socket / 1024:.1f} KiB (target <= 64 KiB)")
    # The teacher's request is in it too: an upper bound of the CPU one socket's event costs.
    per_delivery = 1000 * cpu_spent / (rounds * students)
    print(f"web workers' CPU per event delivered to a socket {per_delivery:.3f} ms")
    return {
        "students": students,
        "rounds": rounds,
        "p99_ms_median": round(statistics.median(p99s), 1),
        "memory_per_socket_kib": round(per_socket / 1024, 1),
        "cpu_ms_per_delivery": round(per_delivery, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--students", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--layer", choices=["pubsub", "core"], default="pubsub")
    args = parser.parse_args()
    env = {
        "DATABASE_URL": fresh_postgres_database(ADMIN_URL, "bench_fanout"),
        "REDIS_URL": REDIS_URL,
        "CHANNEL_LAYER": args.layer,
        "RATE_LIMIT_JOIN": "1000000",
        "RATE_LIMIT_JOIN_CODE": "1000000",
        "RATE_LIMIT_LOGIN": "1000000",
    }
    with tempfile.TemporaryDirectory() as tmp:
        env["PEARDECK_VAR_DIR"] = tmp
        with running_server(env, workers=args.workers, log_path=Path(tmp) / "gunicorn.log") as base:
            print(f"layer={args.layer} workers={args.workers} students={args.students}")
            figures = asyncio.run(run(base, base.process.pid, args.students, args.rounds))
    print("RESULT " + json.dumps({"layer": args.layer, "workers": args.workers, **figures}))


if __name__ == "__main__":
    main()
