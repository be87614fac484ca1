"""The capacity model in deploy/README.md is what deploy/capacity.py computes from its inputs."""

import json
import subprocess
import sys
from pathlib import Path

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_the_readme_holds_the_capacity_model_the_script_computes_from_the_benchmark_figures():
    printed = subprocess.run(
        [sys.executable, str(DEPLOY / "capacity.py")], capture_output=True, text=True, check=True
    ).stdout.strip()
    readme = (DEPLOY / "README.md").read_text()
    begin = "<!-- capacity model: begin (python3 deploy/capacity.py --write) -->"
    held = readme[readme.index(begin) + len(begin) : readme.index("<!-- capacity model: end -->")].strip()
    assert held == printed, "run: python3 deploy/capacity.py --write"


def test_every_measured_input_names_the_benchmark_it_comes_from():
    inputs = json.loads((DEPLOY / "capacity-inputs.json").read_text())
    for name, item in inputs["measured"].items():
        assert isinstance(item["value"], int | float) and item["value"] > 0, name
        assert item["from"], name
