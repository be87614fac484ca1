"""A security policy scan (checkov, pinned, in its own virtualenv) of every overlay and the Dockerfile.

Skipped checks live in deploy/checkov-skips.yaml, each with its reason; a skip that is no longer
needed fails the suite, so the list cannot silently grow stale.
"""

import json
import os
import subprocess

import pytest
import yaml

from tests.deploy.conftest import DEPLOY, OVERLAYS, REPO, require_tool

CHECKOV = REPO / ".venv-tools" / "checkov" / "bin" / "checkov"
SKIPS = yaml.safe_load((DEPLOY / "checkov-skips.yaml").read_text())["skips"]


@pytest.fixture(scope="module")
def scan_inputs(rendered_text, tmp_path_factory) -> list[str]:
    directory = tmp_path_factory.mktemp("rendered")
    files = []
    for overlay in OVERLAYS:
        path = directory / f"{overlay}.yaml"
        path.write_text(rendered_text[overlay])
        files.append(str(path))
    return [*files, str(DEPLOY / "Dockerfile")]


def checkov(inputs: list[str], skip: list[str]) -> dict:
    binary = require_tool(str(CHECKOV), "run scripts/install-test-tools (it builds .venv-tools/checkov)")
    argv = [binary, "--framework", "kubernetes", "dockerfile", "--skip-download", "--compact", "-o", "json"]
    for path in inputs:
        argv += ["-f", path]
    if skip:
        argv += ["--skip-check", ",".join(skip)]
    # BC_SKIP_MAPPING keeps checkov from calling home for guideline links: the scan is offline.
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "LOG_LEVEL": "WARNING"}
    result = subprocess.run(argv, capture_output=True, text=True, check=False, env=env, timeout=300)
    assert result.stdout.strip(), f"checkov printed no report:\n{result.stderr}"
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed = [c for r in reports for c in r["results"]["failed_checks"]]
    return {
        "returncode": result.returncode,
        "frameworks": {r["check_type"] for r in reports},
        "failed": failed,
        "resources": sum(r["summary"]["resource_count"] for r in reports),
    }


def test_the_security_scan_passes_on_every_overlay_and_the_dockerfile(scan_inputs):
    report = checkov(scan_inputs, sorted(SKIPS))
    described = [f"{c['check_id']} {c['resource']} ({c['file_path']})" for c in report["failed"]]
    assert report["returncode"] == 0 and not described, "\n".join(described)
    assert report["frameworks"] == {"kubernetes", "dockerfile"}
    assert report["resources"] > 20


def test_every_skipped_check_is_justified():
    for check_id, entry in SKIPS.items():
        assert check_id.startswith("CKV"), check_id
        assert entry["title"].strip()
        assert len(entry["reason"].split()) >= 15, f"{check_id}: say why, in a sentence or two"


def test_every_skipped_check_would_fail_without_its_skip(scan_inputs):
    report = checkov(scan_inputs, [])
    assert report["returncode"] != 0
    failing = {c["check_id"] for c in report["failed"]}
    assert failing == set(SKIPS), f"fails without skips: {sorted(failing)}; skipped: {sorted(SKIPS)}"
