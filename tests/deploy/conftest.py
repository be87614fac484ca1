"""Shared fixtures for the deploy/ tests: the rendered overlays, and the tools that check them.

Every tool here is required: a missing one fails the test that needs it with a message saying how
to install it, never a skip.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
OVERLAYS = ("staging", "production", "preview")
# Kinds that the Kubernetes API serves without a CRD; everything else needs its own structural test.
CUSTOM_KINDS = {"BackendConfig", "ServiceMonitor", "PodMonitor", "PrometheusRule"}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "Job", "DaemonSet", "CronJob", "Pod"}


def require_tool(path_or_name: str, how: str) -> str:
    found = shutil.which(path_or_name) or (Path(path_or_name).is_file() and path_or_name)
    if not found:
        pytest.fail(f"{path_or_name} is required for this test and missing: {how}", pytrace=False)
    return str(found)


@pytest.fixture(scope="session")
def kubectl() -> str:
    return require_tool("kubectl", "install kubectl (with its built-in kustomize) on PATH")


@pytest.fixture(scope="session")
def kubernetes_validate() -> str:
    return require_tool(
        str(Path(sys.executable).parent / "kubernetes-validate"),
        "pip install -r requirements-test.txt (kubernetes-validate is pinned there)",
    )


def render_overlay(kubectl: str, overlay: str) -> str:
    result = subprocess.run(
        [kubectl, "kustomize", str(DEPLOY / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"kubectl kustomize {overlay} failed:\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="session")
def rendered_text(kubectl) -> dict[str, str]:
    return {overlay: render_overlay(kubectl, overlay) for overlay in OVERLAYS}


@pytest.fixture(scope="session")
def rendered(rendered_text) -> dict[str, list[dict]]:
    return {overlay: [d for d in yaml.safe_load_all(text) if d] for overlay, text in rendered_text.items()}


def pod_spec(obj: dict) -> dict:
    if obj["kind"] == "Pod":
        return obj["spec"]
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return obj["spec"]["template"]["spec"]


def workloads(objects: list[dict]) -> list[dict]:
    return [o for o in objects if o["kind"] in WORKLOAD_KINDS]


def find(objects: list[dict], kind: str, name: str) -> dict:
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
    return matches[0]


def find_by_prefix(objects: list[dict], kind: str, prefix: str) -> dict:
    """Generated ConfigMaps and Secrets carry a content hash after their name."""
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"].startswith(prefix + "-")]
    assert len(matches) == 1, f"expected one {kind} {prefix}-<hash>, found {len(matches)}"
    return matches[0]
