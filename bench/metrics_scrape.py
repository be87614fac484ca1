"""Scrape time of the web pods' metrics endpoint after a long, busy run (SPEC §7: <= 100 ms).

Starts peardeck as production does (gunicorn + 3 uvicorn workers, PostgreSQL, Redis) on 127.0.0.1
with workers restarting every few hundred requests, drives a mix of endpoints with wrk (answers,
state reads, browser-metric reports, unknown paths), then times repeated scrapes of the metrics
port and prints the median, p99 and worst, the number of worker restarts and of files left in the
multiprocess directory. For comparison it also times the same metrics as they would be read if
every dead worker's files had been left in place (no folding into archives).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.metrics import answering_class  # noqa: E402
from tests.support.server import free_port, fresh_postgres_database, running_server  # noqa: E402

ADMIN_URL = os.environ.get("BENCH_ADMIN_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/3")

MIX_LUA = """
local tokens = {%(tokens)s}
local question = %(question)d
local counter = 0
local thread_id = 0
local next_thread = 0
function setup(thread)
  next_thread = next_thread + 1
  thread:set("thread_id", next_thread)
end
function request()
  counter = counter + 1
  local token = tokens[(counter %% #tokens) + 1]
  local auth = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}
  local pick = counter %% 4
  if pick == 0 then
    local body = string.format(
      '{"question_id": %%d, "submission_id": "m%%d-%%d", "answer": {"value": %%d}}',
      question, thread_id, counter, counter %% 100)
    return wrk.format("POST", "/api/student/responses", auth, body)
  elseif pick == 1 then
    return wrk.format("GET", "/api/student/state", auth)
  elseif pick == 2 then
    return wrk.format("POST", "/api/browser-metrics", {["Content-Type"] = "application/json"},
      '{"app": "student", "metrics": [{"name": "app_load", "labels": {"outcome": "success"}, "value": 1},' ..
      ' {"name": "time_to_interactive", "value": 1.7}]}')
  else
    return wrk.format("GET", "/api/no-such-thing-" .. (counter %% 7))
  end
end
"""


def time_scrapes(url: str, count: int) -> list[float]:
    timings = []
    with httpx.Client() as client:
        for _ in range(count):
            started = time.perf_counter()
            client.get(url, timeout=10).raise_for_status()
            timings.append(time.perf_counter() - started)
    return timings


def time_uncompacted(multiproc: Path, dead_workers: int, count: int) -> list[float]:
    """The live workers' files copied once per dead worker, read the way a scrape reads them."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    with tempfile.TemporaryDirectory() as tmp:
        live = [p for p in multiproc.glob("*.db") if "archive" not in p.name]
        for source in live:
            shutil.copy(source, Path(tmp) / source.name)
        # A dead worker leaves its counter and histogram files (its live gauges are removed).
        left_behind = [p for p in live if p.name.startswith(("counter_", "histogram_"))]
        for dead in range(dead_workers):
            for index, source in enumerate(left_behind):
                kind = source.name.split("_")[0]
                shutil.copy(source, Path(tmp) / f"{kind}_{900000 + dead * 100 + index}.db")
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=tmp)
        timings = []
        for _ in range(count):
            started = time.perf_counter()
            generate_latest(registry)
            timings.append(time.perf_counter() - started)
        return timings


def figures(timings: list[float]) -> dict[str, float]:
    """Median, p99 and max of scrape times, in milliseconds."""
    ordered = sorted(timings)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(p99 * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


def summary(timings: list[float]) -> str:
    f = figures(timings)
    return f"median {f['median_ms']:6.1f} ms   p99 {f['p99_ms']:6.1f} ms   max {f['max_ms']:6.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--max-requests", type=int, default=300, help="requests before a worker restarts")
    parser.add_argument("--scrapes", type=int, default=100)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is required: apt-get install wrk")
    with tempfile.TemporaryDirectory() as tmp:
        multiproc = Path(tmp) / "multiproc"
        metrics_url = f"http://127.0.0.1:{free_port()}/metrics"
        env = {
            "DATABASE_URL": fresh_postgres_database(ADMIN_URL, "bench_metrics"),
            "REDIS_URL": REDIS_URL,
            "PEARDECK_VAR_DIR": tmp,
            "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
            "PEARDECK_METRICS_BIND": metrics_url.removeprefix("http://").removesuffix("/metrics"),
            "MAX_REQUESTS": str(args.max_requests),
            "RATE_LIMIT_JOIN": "100000",
            "RATE_LIMIT_JOIN_CODE": "100000",
            "RATE_LIMIT_BROWSER_METRICS": "10000000",
        }
        log = Path(tmp) / "gunicorn.log"
        with running_server(env, workers=args.workers, log_path=log) as base:
            tokens, question = answering_class(base, students=30)
            script = Path(tmp) / "mix.lua"
            script.write_text(MIX_LUA % {"tokens": ", ".join(f'"{t}"' for t in tokens), "question": question})
            output = subprocess.run(
                ["wrk", "-t2", f"-c{args.connections}", f"-d{args.seconds}s", "-s", str(script), base],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            requests = int(output.split(" requests in ")[0].split()[-1])
            time.sleep(1)  # let restarting workers settle
            compacted = time_scrapes(metrics_url, args.scrapes)
            restarts = log.read_text().count("Maximum request limit")
            files = sorted(p.name for p in multiproc.glob("*.db"))
            series = sum(
                1 for line in httpx.get(metrics_url).text.splitlines() if line and not line.startswith("#")
            )
            uncompacted = time_uncompacted(multiproc, restarts, min(args.scrapes, 30))
    print(f"\n{args.workers} workers, {requests} requests in {args.seconds} s, {restarts} worker restarts")
    print(f"multiprocess directory after the run: {len(files)} files ({', '.join(files)})")
    print(f"series per scrape: {series}")
    print(f"scrape of the metrics port (dead workers folded):   {summary(compacted)}   target <= 100 ms")
    print(f"reading the same with every dead worker's files:    {summary(uncompacted)}   (for comparison)")
    scrape, unfolded = figures(compacted), figures(uncompacted)
    result = {
        "workers": args.workers,
        "requests": requests,
        "restarts": restarts,
        "series": series,
        "scrape_median_ms": scrape["median_ms"],
        "scrape_p99_ms": scrape["p99_ms"],
        "scrape_max_ms": scrape["max_ms"],
        "unfolded_median_ms": unfolded["median_ms"],
        "unfolded_p99_ms": unfolded["p99_ms"],
    }
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
