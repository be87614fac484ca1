"""Starts peardeck as production does (gunicorn + uvicorn workers, PostgreSQL, Redis) on 127.0.0.1,
fills CLASSES live classes with students, then drives them with wrk:

  1. GET /healthz                 the cheapest JSON endpoint (no database)
  2. GET /api/student/state       a typical authenticated read
  3. GET /api/student/state with If-None-Match: the conditional poll with nothing new (304)
  4. POST /api/student/responses  a new answer (unique submission_id) every request

and, in the same run, the machine's PostgreSQL ceiling: single-row upsert transactions per second
from 8 clients (pgbench against a scratch table in a scratch database), and the same upsert 100
rows to a statement. Prints requests/s, p50/p99 latency, the ratios the SPEC sets targets for, and
a last line `RESULT {json}`. Every load is bounded in time and only ever targets 127.0.0.1.
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
from tests.support.server import free_port, fresh_postgres_database, running_server  # noqa: E402

ADMIN_URL = os.environ.get("BENCH_ADMIN_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/5")

SUBMIT_LUA = """
local tokens = {%(tokens)s}
local questions = {%(questions)s}
local counter = 0
thread_id = 0  -- set per thread by setup() below (a global, so the setter reaches it)
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

POLL_LUA = """
local tokens = {%(tokens)s}
local etags = {%(etags)s}
local counter = 0
function request()
  counter = counter + 1
  local index = (counter %% #tokens) + 1
  return wrk.format("GET", "/api/student/state",
    {["Authorization"] = "Bearer " .. tokens[index], ["If-None-Match"] = etags[index]})
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


# One row per transaction (the cost of an answer committed alone), and 100 rows per statement
# (what a batched writer can reach); ids spread over 100,000 rows as answers spread over students.
PGBENCH_SINGLE = """\\set id random(1, 100000)
INSERT INTO upsert_probe (id, v) VALUES (:id, 1) ON CONFLICT (id) DO UPDATE SET v = upsert_probe.v + 1;
"""
PGBENCH_HUNDRED = """\\set base random(0, 999)
INSERT INTO upsert_probe (id, v) SELECT :base * 100 + g, 1 FROM generate_series(1, 100) g
ON CONFLICT (id) DO UPDATE SET v = upsert_probe.v + 1;
"""


def pg_upsert_tps(seconds: int, tmp: Path) -> dict:
    """pgbench, 8 clients on 2 threads, against a scratch table of a scratch database."""
    import psycopg

    url = fresh_postgres_database(ADMIN_URL, "bench_pgbench")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE upsert_probe (id integer PRIMARY KEY, v bigint NOT NULL)")
    figures = {}
    for name, script in (("single", PGBENCH_SINGLE), ("hundred", PGBENCH_HUNDRED)):
        path = tmp / f"pgbench-{name}.sql"
        path.write_text(script)
        output = subprocess.run(
            ["pgbench", "-n", "-c", "8", "-j", "2", "-T", str(seconds), "-f", str(path), url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        figures[name] = float(re.search(r"tps = ([\d.]+)", output).group(1))
    return figures


def etags_of(base: str, tokens: list[str]) -> list[str]:
    """Each student's current ETag of their state, as a polling page holds it."""
    import httpx

    with httpx.Client(base_url=base, timeout=30) as http:
        etags = [
            http.get("/api/student/state", headers={"Authorization": f"Bearer {token}"}).headers["ETag"]
            for token in tokens
        ]
        probe = http.get(
            "/api/student/state", headers={"Authorization": f"Bearer {tokens[0]}", "If-None-Match": etags[0]}
        )
        if probe.status_code != 304:
            raise RuntimeError(f"a poll with the current ETag answered {probe.status_code}, not 304")
        return etags


def writer_batches(metrics_url: str) -> dict:
    """The answer writers' batches so far, from the server's own metrics: how many, answers in
    each and milliseconds each (first statement to commit)."""
    import httpx

    text = httpx.get(metrics_url, timeout=10).text

    def value(name: str) -> float:
        found = re.search(rf"^{name} ([\d.e+]+)$", text, re.M)
        return float(found.group(1)) if found else 0.0

    batches = value("peardeck_answer_batch_seconds_count")
    return {
        "batches": int(batches),
        "answers_per_batch": round(value("peardeck_answer_batch_rows_total") / max(1, batches), 1),
        "batch_ms": round(1000 * value("peardeck_answer_batch_seconds_sum") / max(1, batches), 1),
    }


def workers_cpu(master_pid: int) -> float:
    """User + system CPU seconds of the gunicorn master's children (the web workers), from /proc."""
    total = 0.0
    for pid in Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split():
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def measured(base, url: str, seconds: int, connections: int, script: Path | None = None) -> dict:
    """wrk, plus the web workers' CPU per request over the same run."""
    before = workers_cpu(base.process.pid)
    result = wrk(url, seconds, connections, script)
    spent = workers_cpu(base.process.pid) - before
    result["cpu_ms_per_request"] = round(1000 * spent / max(1, result["requests"]), 3)
    return result


def wrk(url: str, seconds: int, connections: int, script: Path | None = None) -> dict:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    if script:
        command += ["-s", str(script)]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    latency = {p: _ms(re.search(rf"^\s+{p}%\s+(\S+)", output, re.M).group(1)) for p in ("50", "99")}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    statuses = re.search(r"(\d+) requests in", output)
    return {
        "rps": rps,
        "p50_ms": latency["50"],
        "p99_ms": latency["99"],
        "non_2xx": int(errors.group(1)) if errors else 0,
        "requests": int(statuses.group(1)) if statuses else 0,
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
        "PEARDECK_METRICS_BIND": f"127.0.0.1:{free_port()}",
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
            poll_script = Path(tmp) / "poll.lua"
            etags = ", ".join(json.dumps(etag) for etag in etags_of(base, tokens))
            poll_script.write_text(POLL_LUA % {"tokens": quoted, "etags": etags})
            wrk(f"{base}/healthz", 2, args.connections)  # warm up every worker
            results = {
                "GET /healthz (cheapest JSON)": measured(
                    base, f"{base}/healthz", args.seconds, args.connections
                ),
                "GET /api/student/state": measured(base, base, args.seconds, args.connections, state_script),
                "GET /api/student/state -> 304": measured(
                    base, base, args.seconds, args.connections, poll_script
                ),
            }
            # The database's ceiling between the reads and the writes, so all share the machine's mood.
            pgbench = pg_upsert_tps(args.seconds, Path(tmp))
            results["POST /api/student/responses"] = measured(
                base, base, args.seconds, args.connections, submit_script
            )
            batches = writer_batches(f"http://{env['PEARDECK_METRICS_BIND']}/metrics")
    print(f"\nworkers={args.workers} connections={args.connections} classes={args.classes}x{args.students}")
    print(f"{'endpoint':32} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'CPU ms/req':>11}")
    for name, r in results.items():
        print(
            f"{name:32} {r['rps']:9.0f} {r['p50_ms']:8.1f} {r['p99_ms']:8.1f} {r['non_2xx']:8d} "
            f"{r['cpu_ms_per_request']:11.2f}"
        )
    healthz = results["GET /healthz (cheapest JSON)"]["rps"]
    state = results["GET /api/student/state"]["rps"]
    poll = results["GET /api/student/state -> 304"]
    submit = results["POST /api/student/responses"]
    print(
        f"\nPostgreSQL, 8 clients: {pgbench['single']:.0f} single-row upsert transactions/s; "
        f"{pgbench['hundred']:.0f} statements/s of 100 rows = {100 * pgbench['hundred']:.0f} rows/s"
    )
    print(f"submit / pg single-row upserts = {submit['rps'] / pgbench['single']:.2f}  (target >= 0.2)")
    print(f"submit / authenticated state read = {submit['rps'] / state:.2f}  (target >= 0.8)")
    print(f"submit p99 = {submit['p99_ms']:.0f} ms  (target <= 100)")
    print(f"304 poll / healthz = {poll['rps'] / healthz:.2f}  (target >= 0.5)")
    print(
        f"answer writers: {batches['batches']} batches, {batches['answers_per_batch']} answers and "
        f"{batches['batch_ms']} ms each (first statement to commit)"
    )
    figures = {
        "healthz_rps": round(healthz, 1),
        "state_rps": round(state, 1),
        "poll_304_rps": round(poll["rps"], 1),
        "poll_304_p99_ms": poll["p99_ms"],
        # A poll that was not a 304 (wrk counts 304 as a success; anything else is a miss).
        "poll_non_304": poll["non_2xx"],
        "submit_rps": round(submit["rps"], 1),
        "submit_p50_ms": submit["p50_ms"],
        "submit_p99_ms": submit["p99_ms"],
        "submit_non_2xx": submit["non_2xx"],
        "healthz_cpu_ms": results["GET /healthz (cheapest JSON)"]["cpu_ms_per_request"],
        "state_cpu_ms": results["GET /api/student/state"]["cpu_ms_per_request"],
        "poll_304_cpu_ms": poll["cpu_ms_per_request"],
        "submit_cpu_ms": submit["cpu_ms_per_request"],
        "pg_upsert_tps": round(pgbench["single"], 1),
        "pg_upsert_100_rows_sps": round(pgbench["hundred"], 1),
        **{f"writer_{key}": value for key, value in batches.items()},
        "submit_over_pg_upsert": round(submit["rps"] / pgbench["single"], 3),
        "submit_over_state": round(submit["rps"] / state, 3),
        "poll_304_over_healthz": round(poll["rps"] / healthz, 3),
        "workers": args.workers,
        "connections": args.connections,
        "load_average": os.getloadavg()[0],
    }
    print("RESULT " + json.dumps(figures))


if __name__ == "__main__":
    main()
