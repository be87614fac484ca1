"""Serving the web pods' metrics from the gunicorn master, and keeping the scrape cheap.

Every worker writes its metric values to files in PROMETHEUS_MULTIPROC_DIR (prometheus_client's
multiprocess mode); the master sums those files on each scrape and serves them on
PEARDECK_METRICS_BIND (port 9100), a port the public Ingress never routes to. The app port
(8000) has no /metrics route at all.

A scrape reads every file in the directory, and each worker that ever ran leaves its counter and
histogram files behind (gunicorn restarts workers after MAX_REQUESTS, on timeouts, on crashes), so
after a long run the scrape would slow down without bound. When a worker exits the master folds
its files into one archive file per metric type and deletes them: the directory then holds the
live workers' files plus a fixed handful of archives, whatever the uptime.

The master side of this module imports prometheus_client only, never Django or observability.metrics:
anything the master created would be copied into every forked worker, and metric objects made in
the master would write files under the master's pid.
"""

import fcntl
import glob
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

log = logging.getLogger(__name__)

ARCHIVE = "archive"

# Serialises folding a dead worker's files into the archives against the scrape reading them:
# between writing an archive and deleting the worker's file a scrape would count its values twice.
_files_lock = threading.Lock()


def _merge_gauge(mode: str, current: tuple[float, float], value: float, timestamp: float):
    old_value, old_timestamp = current
    if mode == "sum":
        return old_value + value, old_timestamp
    if mode == "max":
        return max(old_value, value), old_timestamp
    if mode == "min":
        return min(old_value, value), old_timestamp
    if mode == "mostrecent":
        return (value, timestamp) if timestamp >= old_timestamp else current
    raise ValueError(mode)


def compact_dead_worker(directory: str, pid: int) -> int:
    """Folds the files a dead worker left in `directory` into the archives; returns how many
    files it removed.

    Counters, histograms and summaries are sums over processes, so their values are added to
    `<type>_archive.db`. Live gauges are already gone (mark_process_dead); a dead process's `all`
    gauges would be series labelled with a pid that no longer exists, so they are dropped; the
    other gauge modes are folded by their own rule (sum, max, min, most recent).
    """
    from prometheus_client.mmap_dict import MmapedDict

    removed = 0
    with _files_lock:
        for path in sorted(glob.glob(os.path.join(directory, f"*_{pid}.db"))):
            parts = Path(path).name[: -len(".db")].split("_")
            kind = parts[0]
            if kind == "gauge":
                mode = parts[1]
                if mode.startswith("live") or mode == "all":
                    os.remove(path)
                    removed += 1
                    continue
                archive_name = f"gauge_{mode}_{ARCHIVE}.db"
            elif kind in ("counter", "histogram", "summary"):
                mode = None
                archive_name = f"{kind}_{ARCHIVE}.db"
            else:
                continue
            values = MmapedDict.read_all_values_from_file(path)
            archive = MmapedDict(os.path.join(directory, archive_name))
            try:
                archived = {key: (value, timestamp) for key, value, timestamp in archive.read_all_values()}
                for key, value, timestamp, _position in values:
                    if key not in archived:
                        merged = (value, timestamp)
                    elif mode is None:
                        merged = (archived[key][0] + value, timestamp)
                    else:
                        merged = _merge_gauge(mode, archived[key], value, timestamp)
                    archive.write_value(key, *merged)
            finally:
                archive.close()
            os.remove(path)
            removed += 1
    return removed


class _MultiProcessFiles:
    """The multiprocess collector, reading only while no dead worker is being folded in."""

    def __init__(self, directory: str):
        from prometheus_client.multiprocess import MultiProcessCollector

        self._collector = MultiProcessCollector(None, path=directory)

    def collect(self):
        with _files_lock:
            return list(self._collector.collect())


def parse_bind(bind: str) -> tuple[str, int]:
    host, _, port = bind.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"PEARDECK_METRICS_BIND must be host:port, not {bind!r}")
    return host.strip("[]"), int(port)


def start_metrics_server(bind: str, directory: str):
    """Starts the scrape endpoint in a thread of the calling process (the gunicorn master).

    Returns the HTTP server, or None when the port cannot be bound: losing the metrics port must
    not take the app down with it (PeardeckTargetDown says so within minutes)."""
    from prometheus_client import CollectorRegistry, start_http_server

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_MultiProcessFiles(directory))
    host, port = parse_bind(bind)
    try:
        server, _thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        log.error("metrics endpoint not started: cannot bind %s (%s)", bind, exc)
        return None
    log.info("metrics endpoint on http://%s/metrics", bind)
    return server


# --- in each worker ---------------------------------------------------------------------------
# These run in a worker after Django is set up; the imports stay inside the functions because the
# master imports this module too (see the top of this file).


def worker_started(
    directory: str | None, *, answer_kinds: Iterable[str], count_open_sessions: Callable[[], int]
) -> None:
    """Called once in each worker after the app is loaded: the build info, every declared series
    at zero, and the open-sessions refresher. What the apps know (the kinds of question that take
    an answer, how to count open sessions) comes from the caller, gunicorn.conf.py, so that this
    server runtime imports no app."""
    from django.conf import settings

    from observability import instrument, metrics

    metrics.BUILD_INFO.labels(settings.PEARDECK_VERSION, settings.PEARDECK_COMMIT).set(1)
    instrument.create_declared_series(answer_kinds=answer_kinds)
    if directory:
        threading.Thread(
            target=_refresh_open_sessions_forever,
            args=(os.path.join(directory, "open_sessions.lock"), count_open_sessions),
            name="open-sessions",
            daemon=True,
        ).start()


def refresh_open_sessions(count_open_sessions: Callable[[], int]) -> None:
    from django.db import connection

    from observability import metrics

    try:
        metrics.OPEN_SESSIONS.set(count_open_sessions())
    except Exception:  # a database outage must not kill the refresher; the gauge keeps its last value
        log.warning("could not count open sessions", exc_info=True)
    finally:
        # This thread is outside any request, so nothing else hands its connection back.
        connection.close()


def _refresh_open_sessions_forever(lock_path: str, count_open_sessions: Callable[[], int]) -> None:
    """One worker per pod counts open sessions: whichever holds an exclusive lock on lock_path.

    The lock dies with its holder, so when that worker exits another one takes over within one
    period; the gauge is `livemax`, so the dead holder's value disappears with it. The cost is one
    COUNT per pod every settings.OPEN_SESSIONS_REFRESH_SECONDS, however many workers and scrapes.
    """
    from django.conf import settings

    lock_file = open(lock_path, "a")  # noqa: SIM115 - held for the life of the worker
    holding = False
    while True:
        if not holding:
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                holding = True
            except OSError:
                pass
        if holding:
            refresh_open_sessions(count_open_sessions)
        time.sleep(settings.OPEN_SESSIONS_REFRESH_SECONDS)
