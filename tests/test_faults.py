"""The fault suite's short form (bench/faults --short): while classes answer over HTTP, WebSocket and
Firebase, a web worker is SIGKILLed, PostgreSQL (a private cluster of the suite's own) restarts,
the Firebase stand-in goes down and the Firebase worker is SIGKILLed. No acknowledged answer may be
lost, none counted twice, and every client must converge. The full table is in the README."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_no_acknowledged_answer_is_lost_through_the_short_fault_suite():
    from bench.faults import PG_BIN

    if not (PG_BIN / "initdb").exists():
        pytest.fail(f"PostgreSQL's server binaries are required under {PG_BIN} (apt-get install postgresql)")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}
    }
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "faults.py"), "--short"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    outcome = json.loads(line.removeprefix("RESULT "))
    rows = {row["fault"]: row for row in outcome["rows"]}
    assert set(rows) == {"web-worker-kill", "pg-restart", "firebase-down", "firebase-worker-kill"}
    for fault, row in rows.items():
        assert row["acked_but_lost"] == 0, (fault, row)
        assert row["duplicates"] == 0, (fault, row)
        assert row["offered"] > 0 and all(row["offered_by_transport"].values()), (fault, row)
        assert row["acked"] == row["offered"], (fault, row)
        assert row["stored"] == row["acked"] - row["refused"], (fault, row)
        assert row["converged_seconds"] is not None and row["converged_seconds"] < 30, (fault, row)
