"""Folding a dead worker's metric files into archives keeps every total and bounds the directory."""

import os
import subprocess
import sys
import textwrap

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from runtime.metrics_exporter import compact_dead_worker, parse_bind

WORKER = textwrap.dedent(
    """
    from prometheus_client import Counter, Gauge, Histogram
    c = Counter("demo_answers", "a", ["kind"])
    h = Histogram("demo_seconds", "b", buckets=(0.1, 1.0))
    g_all = Gauge("demo_all", "c")
    g_max = Gauge("demo_max", "d", multiprocess_mode="max")
    g_sum = Gauge("demo_sum", "e", multiprocess_mode="sum")
    g_live = Gauge("demo_live", "f", multiprocess_mode="livesum")
    import os, sys
    n = int(sys.argv[1])
    c.labels("text").inc(n)
    c.labels("number").inc(2 * n)
    for _ in range(n):
        h.observe(0.05 * n)
    g_all.set(n); g_max.set(n); g_sum.set(n); g_live.set(n)
    print(os.getpid())
    """
)


def _run_worker(directory, n: int) -> int:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    out = subprocess.run(
        [sys.executable, "-c", WORKER, str(n)], env=env, capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip())


def _exposition(directory) -> dict:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))
    lines = generate_latest(registry).decode().splitlines()
    return dict(line.rsplit(" ", 1) for line in lines if line and not line.startswith("#"))


def test_folding_dead_workers_keeps_counters_histograms_and_gauges_and_leaves_one_file_per_kind(tmp_path):
    from prometheus_client import multiprocess

    pids = [_run_worker(tmp_path, n) for n in (1, 2, 3)]
    before = _exposition(tmp_path)
    for pid in pids:
        multiprocess.mark_process_dead(pid, str(tmp_path))
        compact_dead_worker(str(tmp_path), pid)
    after = _exposition(tmp_path)

    assert float(after['demo_answers_total{kind="text"}']) == 6
    assert float(after['demo_answers_total{kind="number"}']) == 12
    assert float(after["demo_seconds_count"]) == 6
    assert float(after['demo_seconds_bucket{le="0.1"}']) == 3  # 0.05 once, 0.1 twice
    assert float(after["demo_max"]) == 3
    assert float(after["demo_sum"]) == 6
    # Series of dead processes that only make sense while they live are gone.
    assert not any(name.startswith(("demo_all", "demo_live")) for name in after)
    kept = {key: float(val) for key, val in before.items() if not key.startswith(("demo_all", "demo_live"))}
    # Sums of floats may differ in the last digit with the order of addition.
    assert {key: float(val) for key, val in after.items()} == pytest.approx(kept)
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "counter_archive.db",
        "gauge_max_archive.db",
        "gauge_sum_archive.db",
        "histogram_archive.db",
    ]


def test_a_later_worker_adds_to_the_archive_rather_than_replacing_it(tmp_path):
    first = _run_worker(tmp_path, 1)
    compact_dead_worker(str(tmp_path), first)
    second = _run_worker(tmp_path, 4)
    assert float(_exposition(tmp_path)['demo_answers_total{kind="text"}']) == 5
    compact_dead_worker(str(tmp_path), second)
    assert float(_exposition(tmp_path)['demo_answers_total{kind="text"}']) == 5
    assert len(list(tmp_path.glob("counter_*.db"))) == 1


def test_the_metrics_bind_is_host_and_port():
    assert parse_bind("0.0.0.0:9100") == ("0.0.0.0", 9100)
    assert parse_bind("[::1]:9100") == ("::1", 9100)
