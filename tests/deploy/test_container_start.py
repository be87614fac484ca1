"""Every container of every rendered overlay starts, as its pod would start it.

Each container runs with the image's environment plus the manifest's (ConfigMaps of the render
resolved, secrets stubbed), as its runAsUser, on a read-only root with only its own volumes
writable (tests/deploy/container_sandbox.py says how). Services must pass their own probes and stop
cleanly on SIGTERM; the migration Job must finish with 0; the Firebase probe must complete a round
against the stand-in. A container that only works because the test machine is writable, or because
a variable the image sets was dropped, fails here.
"""

import os
import shutil
import subprocess
import sys

import pytest
import yaml

from tests.deploy import container_sandbox
from tests.deploy.conftest import OVERLAYS, REPO, WORKLOAD_KINDS, render_overlay
from tests.firebase_standin.credentials import service_account_info

# What a container must show beyond its probes, by its pod's component label.
CHECKS = {
    "firebase-probe": {"firebase_standin": True, "expect_output": r"shard \d+: ok"},
}


def _rendered() -> dict[str, list[dict]]:
    kubectl = shutil.which("kubectl")
    if not kubectl:
        return {}
    return {o: [d for d in yaml.safe_load_all(render_overlay(kubectl, o)) if d] for o in OVERLAYS}


RENDERED = _rendered()


def _cases():
    if not RENDERED:
        yield pytest.param(None, None, None, None, id="kubectl-missing")
        return
    for overlay, objects in RENDERED.items():
        for obj in objects:
            if obj["kind"] not in WORKLOAD_KINDS:
                continue
            spec = obj["spec"]["template"]["spec"]
            for init, containers in ((True, spec.get("initContainers", [])), (False, spec["containers"])):
                for container in containers:
                    yield pytest.param(
                        overlay,
                        obj,
                        container,
                        init,
                        id=f"{overlay}-{obj['metadata']['name']}-{container['name']}",
                    )


@pytest.fixture(scope="session")
def service_account():
    return service_account_info("peardeck-production")


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory):
    """An SQLite database as the migration Job leaves it, for the long-running containers."""
    path = tmp_path_factory.mktemp("container-start-db") / "peardeck.sqlite3"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env["DATABASE_URL"] = f"sqlite:///{path}"
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return path


@pytest.mark.parametrize(("overlay", "workload", "container", "init"), list(_cases()))
def test_every_container_starts_on_a_read_only_root_as_its_user(
    overlay, workload, container, init, service_account, migrated_database, tmp_path
):
    assert RENDERED, "kubectl is required: install kubectl (with its built-in kustomize) on PATH"
    if os.geteuid() != 0:
        pytest.fail("starting containers needs root (mount and network namespaces, chroot, setuid)")
    component = workload["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component", "")
    checks = dict(CHECKS.get(component, {}))
    if workload["kind"] not in {"Job", "CronJob"} and not init:
        checks["database_template"] = str(migrated_database)
    plan = container_sandbox.plan_for(
        RENDERED[overlay], workload, container, init=init, service_account=service_account, checks=checks
    )
    report = container_sandbox.run_plan(plan, tmp_path)
    where = f"{overlay} {report['title']} ({' '.join(report['argv'])})\n--- output ---\n{report['output']}"
    if plan["one_shot"]:
        assert report["exit_code"] == 0, f"exited with {report['exit_code']}: {where}"
        return
    assert not report["exited_early"], f"exited with {report['exit_code']} before it was ready: {where}"
    assert not report["failed_probes"], f"probes failed: {report['probes']}: {where}"
    assert report["expected_output_seen"], f"never printed {checks.get('expect_output')!r}: {where}"
    assert report["exit_code"] == 0, f"SIGTERM ended it with {report['exit_code']}: {where}"


def test_the_image_environment_is_read_from_the_dockerfile():
    env = container_sandbox.image_environment()
    assert env["PATH"].startswith("/opt/venv/bin:/usr/local/sbin")
    assert env["PEARDECK_VAR_DIR"] == "/var/lib/peardeck"
    assert ("/var/lib/peardeck", 10001, 10001) in container_sandbox.image_directories()


def test_kubernetes_variable_expansion_in_commands():
    env = {"A": "x"}
    assert container_sandbox.expand("--at=$(A) $(B) $$(A)", env) == "--at=x $(B) $(A)"
