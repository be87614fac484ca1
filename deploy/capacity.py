"""The capacity model of deploy/README.md ("Capacity for a school morning"), computed from the
benchmark figures and the stated assumptions in deploy/capacity-inputs.json.

    python3 deploy/capacity.py            # prints the model (markdown)
    python3 deploy/capacity.py --write    # and puts it into deploy/README.md between its markers

tests/deploy/test_capacity_model.py checks that the README holds what this script computes from
the inputs, so that neither drifts from the other. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

HERE = Path(__file__).resolve().parent
INPUTS = HERE / "capacity-inputs.json"
README = HERE / "README.md"
BEGIN = "<!-- capacity model: begin (python3 deploy/capacity.py --write) -->"
END = "<!-- capacity model: end -->"


def model(inputs: dict) -> dict:
    """Everything the README states, from the inputs: a dict of named figures."""
    m = inputs["morning"]
    x = {key: item["value"] for key, item in inputs["measured"].items()}
    p = inputs["plan"]
    share = m["transport_share"]
    f: dict = {}

    f["students"] = m["classes"] * m["students_per_class"]
    f["answers"] = f["students"] / m["answering_window_s"] * m["peak_over_mean"]
    f["ws"], f["firebase"], f["http"] = (
        f["answers"] * share[key] for key in ("websocket", "firebase", "http")
    )
    f["polls"] = f["students"] * share["http"] / m["poll_interval_s"]
    per_class_sockets = m["students_per_class"] * share["websocket"] + 2  # + teacher and projector
    f["sockets"] = m["classes"] * per_class_sockets
    f["deliveries"] = m["classes"] / m["seconds_per_question"] * per_class_sockets

    # Web pods: CPU (answers with their dashboards' tallies, polls, question changes) and memory.
    f["web_cores"] = (
        f["ws"] * x["web_cpu_ms_per_ws_answer"]
        + f["http"] * x["web_cpu_ms_per_http_answer"]
        + f["polls"] * x["web_cpu_ms_per_304_poll"]
        + f["deliveries"] * x["web_cpu_ms_per_socket_delivery"]
    ) / 1000
    f["pods_cpu"] = math.ceil(f["web_cores"] / (p["web_pod_cpu"] * p["web_cpu_utilisation"]))
    f["socket_gib"] = f["sockets"] * x["memory_kib_per_socket"] / 2**20
    usable_mib = p["web_pod_memory_mib"] * p["web_memory_utilisation"] - p["web_pod_base_mib"]
    f["pods_memory"] = math.ceil(f["socket_gib"] * 1024 / usable_mib)
    f["pods"] = max(f["pods_cpu"], f["pods_memory"])

    # PostgreSQL: each pod's writer (and the Firebase worker's) commits a batch at a time.
    f["batches"] = f["pods"] * p["writer_batches_per_s_per_pod"] + 1 / p["worker_tick_s"]
    f["answers_per_batch"] = f["answers"] / f["batches"]
    f["rows"] = f["answers"] * x["rows_per_answer"]
    f["statements"] = f["batches"] * x["statements_per_batch"]
    rows_per_vcpu = x["pg_rows_per_s_in_100_row_statements"] / x["pg_bench_vcpus"]
    f["pg_vcpus"] = math.ceil(f["rows"] / rows_per_vcpu / p["pg_cpu_utilisation"])

    # Redis: an answers_seq announcement per batch, a tally event per answering class per round
    # (from every pod holding a student of it, without class affinity), a change per question.
    answering_classes = f["answers"] / m["students_per_class"] * m["class_answer_spread_s"]
    tally_events = answering_classes / m["coalesce_s"]
    changes = m["classes"] / m["seconds_per_question"]
    pods_per_class = min(f["pods"], m["students_per_class"])
    f["publishes"] = f["batches"] + tally_events * pods_per_class + changes
    f["publishes_affinity"] = f["batches"] + tally_events + changes
    f["redis_shards"] = math.ceil(f["publishes"] / (p["redis_publishes_per_s"] * p["redis_utilisation"]))
    f["redis_shards_affinity"] = math.ceil(
        f["publishes_affinity"] / (p["redis_publishes_per_s"] * p["redis_utilisation"])
    )

    # Firebase: the students' own writes and connections; the worker's writes follow its ticks.
    f["firebase_students"] = f["students"] * share["firebase"]
    writes_per_db = p["firebase_writes_per_s_per_db"] * p["firebase_utilisation"] - 3 / p["worker_tick_s"]
    f["firebase_dbs_writes"] = math.ceil(f["firebase"] / writes_per_db)
    f["firebase_dbs_connections"] = math.ceil(f["firebase_students"] / p["firebase_connections_per_db"])
    f["firebase_dbs"] = max(f["firebase_dbs_writes"], f["firebase_dbs_connections"])
    f["worker_cores"] = f["firebase"] * x["worker_cpu_ms_per_answer"] / 1000

    # The answer rate at which each part, as planned above, is full; the unscalable ones first.
    web_ms_per_answer = f["web_cores"] * 1000 / f["answers"]
    f["ceilings"] = {
        "web pods": f["pods"] * p["web_pod_cpu"] * 1000 / web_ms_per_answer,
        "PostgreSQL": f["pg_vcpus"] * rows_per_vcpu / x["rows_per_answer"],
        "Redis (no class affinity)": (
            f["redis_shards"] * p["redis_publishes_per_s"] * f["answers"] / f["publishes"]
        ),
        "Firebase databases": f["firebase_dbs"] * writes_per_db / share["firebase"],
        "the one Firebase worker": x["worker_answers_per_s"] / share["firebase"],
        "session-row locks (no class affinity)": x["writer_max_batch"] / (x["writer_batch_hold_ms"] / 1000),
    }
    f["first"] = min(f["ceilings"], key=f["ceilings"].get)
    return f


def render(inputs: dict, f: dict) -> str:
    m, p = inputs["morning"], inputs["plan"]
    x = {key: item["value"] for key, item in inputs["measured"].items()}
    share = m["transport_share"]
    lines = [
        f"Peak: {f['answers']:,.0f} answers/s ({m['classes']:,} classes of {m['students_per_class']} "
        f"answering within {m['answering_window_s']} s, x{m['peak_over_mean']} for bunching): "
        f"{f['ws']:,.0f} over WebSockets ({share['websocket']:.0%}), "
        f"{f['firebase']:,.0f} through Firebase ({share['firebase']:.0%}), "
        f"{f['http']:,.0f} over HTTP ({share['http']:.0%}, polling every {m['poll_interval_s']} s: "
        f"{f['polls']:,.0f} polls/s).",
        "",
        "| part | needed at the peak | because |",
        "|---|---|---|",
        f"| web pods | **{f['pods']}** of {p['web_pod_cpu']} CPU / {p['web_pod_memory_mib']} MiB "
        f"(CPU: {f['pods_cpu']}, memory: {f['pods_memory']}) | {f['web_cores']:,.0f} cores at "
        f"{p['web_cpu_utilisation']:.0%}: {x['web_cpu_ms_per_ws_answer']} ms a socket answer "
        f"(tallies included), {x['web_cpu_ms_per_http_answer']} ms an HTTP answer, "
        f"{x['web_cpu_ms_per_304_poll']} ms a 304 poll, "
        f"{x['web_cpu_ms_per_socket_delivery']} ms a socket delivery ({f['deliveries']:,.0f}/s); "
        f"{f['sockets']:,.0f} sockets x {x['memory_kib_per_socket']} KiB = {f['socket_gib']:,.0f} GiB |",
        f"| PostgreSQL | **{f['pg_vcpus']} vCPUs** (one primary) | {f['rows']:,.0f} rows/s in "
        f"{f['batches']:,.0f} batches/s of ~{f['answers_per_batch']:,.0f} answers, "
        f"{x['statements_per_batch']} statements a batch ({f['statements']:,.0f}/s); "
        f"{x['pg_rows_per_s_in_100_row_statements']:,} rows/s per {x['pg_bench_vcpus']} vCPUs "
        f"(pgbench), at {p['pg_cpu_utilisation']:.0%} |",
        f"| Redis | **{f['redis_shards']} shards**; {f['redis_shards_affinity']} with class affinity | "
        f"{f['publishes']:,.0f} publishes/s ({f['publishes_affinity']:,.0f} with affinity) at "
        f"{p['redis_publishes_per_s']:,} a shard (assumed), {p['redis_utilisation']:.0%} |",
        f"| Firebase | **{f['firebase_dbs']} databases** (writes: {f['firebase_dbs_writes']}, "
        f"connections: {f['firebase_dbs_connections']}) | {f['firebase']:,.0f} student writes/s at "
        f"{p['firebase_writes_per_s_per_db']:,} a database, {p['firebase_utilisation']:.0%}; "
        f"{f['firebase_students']:,.0f} connections at {p['firebase_connections_per_db']:,} a database |",
        f"| Firebase worker | {f['worker_cores']:.1f} cores | {x['worker_cpu_ms_per_answer']} ms an "
        f"answer; one worker took in {x['worker_answers_per_s']:,}/s |",
        "",
        "Answers/s at which each part, as planned, is full:",
        "",
    ]
    for name, value in sorted(f["ceilings"].items(), key=lambda item: item[1]):
        lines.append(f"- {name}: {value:,.0f}")
    lines += ["", f"First to saturate: **{f['first']}**."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help="update deploy/README.md between its markers")
    options = parser.parse_args()
    inputs = json.loads(INPUTS.read_text())
    text = render(inputs, model(inputs))
    print(text)
    if options.write:
        readme = README.read_text()
        start, end = readme.index(BEGIN) + len(BEGIN), readme.index(END)
        README.write_text(readme[:start] + "\n" + text + "\n" + readme[end:])


if __name__ == "__main__":
    main()
