"""Starts peardeck as production does (gunicorn + uvicorn workers, PostgreSQL, Redis) on 127.0.0.1,
fills a session with students, then drives it with wrk:

  1. GET /healthz               the cheapest JSON endpoint (no database)
  2. GET /api/student/state     a typical authenticated read
  3. POST /api/student/responses a new answer (unique submission_id) every request

and prints requests/s, p50/p99 latency and the ratio of (3) to (1). Every load is bounded in time
and only ever targets 127.0.0.1.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.classroom import ONE_CHOICE_QUESTION, open_class, sign_up_teacher  # noqa: E402
from tests.support.server import fresh_postgres_database, running_server  # noqa: E402

ADMIN_URL = os.environ.get("BENCH_ADMIN_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/5")

SUBMIT_LUA = """
local tokens = {%(tokens)s}
local questions = {%(questions)s}
local counter = 0
local thread_id = 0
local next_thread = 0
function setup(thread)
  next_thread = next_thread + 1
  thread:set("thread_id", next_thread)
end
function request()
  counter = counter + 1
  local index = (counter %% #tokens) + 1
  local token = tokens[index]
  local body = string.format(
    '{"question_id": %%d, "submission_id": "t%%d-%%d", "answer": {"choices": [%%d]}}',
    questions[index], thread_id, counter, counter %% 4)
  return wrk.format("POST", "/api/student/responses",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end
"""

STATE_LUA = """
local tokens = {%(tokens)s}
local counter = 0
function request()
  counter = counter + 1
  return wrk.format("GET", "/api/student/state",
    {["Authorization"] = "Bearer " .. tokens[(counter %% #tokens) + 1]})
end
"""


def prepare_classes(base: str, classes: int, students: int) -> tuple[list[str], list[int]]:
    """A morning in miniature: several live classes; returns each student's token and question."""
    teacher = sign_up_teacher(base, username="bench")
    tokens, questions = [], []
    for class_number in range(classes):
        live = open_class(
            base,
            teacher=teacher,
            title=f"bench {class_number}",
            questions=ONE_CHOICE_QUESTION,
            students=[f"s{n}" for n in range(students)],
        )
        tokens += live.tokens
        questions += [live.questions[0]["id"]] * students
    # Interleave the classes so concurrent requests hit different sessions, as they would.
    order = sorted(range(len(tokens)), key=lambda i: (i % students, i // students))
    return [tokens[i] for i in order], [questions[i] for i in order]


def wrk(url: str, seconds: int, connections: int, script: Path | None = None) -> dict:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    if script:
        command += ["-s", str(script)]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    latency = {p: _ms(re.search(rf"^\s+{p}%\s+(\S+)", output, re.M).group(1)) for p in ("50", "99")}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "rps": rps,
        "p50_ms": latency["50"],
        "p99_ms": latency["99"],
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--classes", type=int, default=20)
    parser.add_argument("--students", type=int, default=30, help="per class")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is required: apt-get install wrk")
    env = {
        "DATABASE_URL": fresh_postgres_database(ADMIN_URL, "bench_submit"),
        "REDIS_URL": REDIS_URL,
        "RATE_LIMIT_JOIN": "100000",
        "RATE_LIMIT_JOIN_CODE": "100000",
        "RATE_LIMIT_LOGIN": "100000",
    }
    with tempfile.TemporaryDirectory() as tmp:
        env["PEARDECK_VAR_DIR"] = tmp
        with running_server(env, workers=args.workers, log_path=Path(tmp) / "gunicorn.log") as base:
            tokens, questions = prepare_classes(base, args.classes, args.students)
            quoted = ", ".join(json.dumps(token) for token in tokens)
            submit_script = Path(tmp) / "submit.lua"
            submit_script.write_text(
                SUBMIT_LUA % {"tokens": quoted, "questions": ", ".join(map(str, questions))}
            )
            state_script = Path(tmp) / "state.lua"
            state_script.write_text(STATE_LUA % {"tokens": quoted})
            wrk(f"{base}/healthz", 2, args.connections)  # warm up every worker
            results = {
                "GET /healthz (cheapest JSON)": wrk(f"{base}/healthz", args.seconds, args.connections),
                "GET /api/student/state": wrk(base, args.seconds, args.connections, state_script),
                "POST /api/student/responses": wrk(base, args.seconds, args.connections, submit_script),
            }
    print(f"\nworkers={args.workers} connections={args.connections} classes={args.classes}x{args.students}")
    print(f"{'endpoint':32} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}")
    for name, r in results.items():
        print(f"{name:32} {r['rps']:9.0f} {r['p50_ms']:8.1f} {r['p99_ms']:8.1f} {r['non_2xx']:8d}")
    cheapest = results["GET /healthz (cheapest JSON)"]["rps"]
    read = results["GET /api/student/state"]["rps"]
    submit = results["POST /api/student/responses"]["rps"]
    print(f"\nsubmit / cheapest JSON (no database)    = {submit / cheapest:.2f}  (SPEC target >= 0.60)")
    print(f"submit / cheapest authenticated read     = {submit / read:.2f}")


if __name__ == "__main__":
    main()
