"""gunicorn.conf.py: metrics work under `make run` without any configuration."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

READ_CONFIG = """
import json, os, runpy
config = runpy.run_path("gunicorn.conf.py")
print(json.dumps({"dir": os.environ.get("PROMETHEUS_MULTIPROC_DIR"), "bind": config["_metrics_bind"]}))
"""


def _config(env: dict) -> dict:
    clean = {
        k: v for k, v in os.environ.items() if k not in ("PROMETHEUS_MULTIPROC_DIR", "PEARDECK_METRICS_BIND")
    }
    result = subprocess.run(
        [sys.executable, "-c", READ_CONFIG],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


def test_without_configuration_metrics_go_under_var_and_are_served_on_localhost_9100(tmp_path):
    config = _config({"PEARDECK_VAR_DIR": str(tmp_path)})
    assert config == {"dir": str(tmp_path / "prometheus-multiproc"), "bind": "127.0.0.1:9100"}


def test_the_environment_chooses_the_directory_and_the_metrics_address(tmp_path):
    config = _config(
        {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "m"), "PEARDECK_METRICS_BIND": "0.0.0.0:9100"}
    )
    assert config == {"dir": str(tmp_path / "m"), "bind": "0.0.0.0:9100"}
