"""The Firebase probe: write a probe node, read it back, time both, per location.

Each round probes every shard: one write of `/probes/<location>` and one read of it back. Each
(round, shard) counts one attempt; one that fails, or reads back something else, counts one
failure with a reason from a small fixed set. Durations are observed for operations that
completed, so a slow Firebase shows in the histogram and an unreachable one in the failures.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from dataclasses import dataclass

from integrations import firebase
from observability import metrics

log = logging.getLogger(__name__)

LOCATION = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


@dataclass
class ProbeResult:
    shard: int
    ok: bool
    reason: str = ""
    write_seconds: float | None = None
    read_seconds: float | None = None


def probe_once(*, location: str, timeout: float) -> list[ProbeResult]:
    return [_probe_shard(location, shard, timeout) for shard in range(firebase.shard_count())]


def _probe_shard(location: str, shard: int, timeout: float) -> ProbeResult:
    metrics.FIREBASE_PROBE_ATTEMPTS.labels(location=location).inc()
    result = ProbeResult(shard=shard, ok=False)
    nonce = uuid.uuid4().hex
    try:
        node = firebase.reference(f"/probes/{location}", shard=shard, http_timeout=timeout)
        started = time.perf_counter()
        node.set({"nonce": nonce, "written_at": {".sv": "timestamp"}})
        result.write_seconds = time.perf_counter() - started
        metrics.FIREBASE_PROBE_DURATION.labels(location=location, operation="write").observe(
            result.write_seconds
        )
        started = time.perf_counter()
        read = node.child("nonce").get()
        result.read_seconds = time.perf_counter() - started
        metrics.FIREBASE_PROBE_DURATION.labels(location=location, operation="read").observe(
            result.read_seconds
        )
        result.ok = read == nonce
        if not result.ok:
            result.reason = "mismatch"
    except Exception as exc:
        result.reason = firebase.error_reason(exc)
        log.warning("firebase probe of shard %d failed (%s): %s", shard, result.reason, exc)
    if not result.ok:
        metrics.FIREBASE_PROBE_FAILURES.labels(location=location, reason=result.reason).inc()
    return result
