"""deploy/stage and deploy/unstage, run as an operator runs them, against a recording kubectl."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.deploy.conftest import CUSTOM_KINDS, DEPLOY

STAGE = DEPLOY / "stage"
UNSTAGE = DEPLOY / "unstage"
FAKE_BIN = Path(__file__).resolve().parent / "bin"
IMAGE = "images.example/peardeck/peardeck:1.4.2"


@pytest.fixture
def cluster(kubectl, tmp_path, monkeypatch):
    """PATH starts with the recording kubectl; `calls()` reads back what it was asked."""
    log = tmp_path / "kubectl.jsonl"
    monkeypatch.setenv("PATH", f"{FAKE_BIN}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("REAL_KUBECTL", kubectl)
    monkeypatch.setenv("FAKE_KUBECTL_LOG", str(log))
    monkeypatch.delenv("KUBECTL", raising=False)

    class Cluster:
        @staticmethod
        def calls(context="any"):
            if not log.exists():
                return []
            entries = [json.loads(line) for line in log.read_text().splitlines()]
            return [e for e in entries if context == "any" or e["context"] == context]

    return Cluster


def run(script, *args, **env):
    return subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **env},
        timeout=120,
    )


def verbs(calls):
    """Each call as a short phrase, e.g. 'apply -l ...', 'rollout deployment/peardeck-web'."""
    phrases = []
    for call in calls:
        args = call["args"]
        if args[0] == "apply":
            phrases.append(f"apply {args[args.index('-l') + 1]}")
        elif args[0] in {"rollout", "wait"}:
            phrases.append(f"{args[0]} {args[2]}")
        else:
            phrases.append(" ".join(args[:3]))
    return phrases


def test_a_dry_run_prints_valid_manifests_for_the_preview_namespace_with_the_image(
    kubectl, kubernetes_validate, tmp_path, monkeypatch
):
    monkeypatch.setenv("PATH", os.environ["PATH"])
    started = time.monotonic()
    result = run(STAGE, "demo", "--image", IMAGE, "--dry-run")
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert elapsed < 10, f"dry run took {elapsed:.1f}s"
    objects = [o for o in yaml.safe_load_all(result.stdout) if o]
    namespaces = [o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"]
    assert namespaces == ["peardeck-demo"]
    assert {o["metadata"]["namespace"] for o in objects if o["kind"] != "Namespace"} == {"peardeck-demo"}
    peardeck_images = {
        c["image"]
        for o in objects
        if o["kind"] in {"Deployment", "Job"}
        for c in o["spec"]["template"]["spec"]["containers"]
    }
    assert peardeck_images == {IMAGE}
    ingress = next(o for o in objects if o["kind"] == "Ingress")
    assert ingress["spec"]["rules"][0]["host"] == "demo.preview.peardeck.example"
    config = next(o for o in objects if o["kind"] == "ConfigMap")["data"]
    assert config["ALLOWED_HOSTS"] == "demo.preview.peardeck.example"
    secret = next(o for o in objects if o["kind"] == "Secret")
    assert {"database-url", "redis-url", "secret-key"} <= set(secret["data"])

    manifest = tmp_path / "demo.yaml"
    manifest.write_text(result.stdout)
    validated = subprocess.run(
        [kubernetes_validate, "--strict", "--quiet", str(manifest)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert all(o["kind"] not in CUSTOM_KINDS or o["apiVersion"] for o in objects)


def test_an_image_can_be_named_by_digest_or_by_a_bare_tag():
    by_digest = run(STAGE, "demo", "--image", "images.example/peardeck@sha256:" + "a" * 64, "--dry-run")
    assert by_digest.returncode == 0, by_digest.stderr
    assert "image: images.example/peardeck@sha256:" + "a" * 64 in by_digest.stdout
    by_tag = run(STAGE, "demo", "--image", "2.0.0", "--dry-run")
    assert by_tag.returncode == 0, by_tag.stderr
    assert "image: peardeck:2.0.0" in by_tag.stdout
    untagged = run(STAGE, "demo", "--image", "images.example/peardeck", "--dry-run")
    assert untagged.returncode == 2 and "neither a tag nor a digest" in untagged.stderr


def test_staging_migrates_before_rolling_out_and_prints_where_it_is_served(cluster):
    result = run(STAGE, "demo", "--image", IMAGE)
    assert result.returncode == 0, result.stderr
    calls = cluster.calls()
    assert verbs(calls) == [
        "apply app.kubernetes.io/component notin (web,firebase-worker,firebase-probe,migrate)",
        "rollout statefulset/peardeck-postgres",
        "rollout statefulset/peardeck-redis",
        "delete job peardeck-migrate",
        "apply app.kubernetes.io/component=migrate",
        "wait job/peardeck-migrate",
        "apply app.kubernetes.io/component!=migrate",
        "rollout deployment/peardeck-firebase-worker",
        "rollout deployment/peardeck-web",
        "get ingress peardeck-web",
    ]
    for call in calls:
        assert call["context"] is None
        if call["args"][0] != "apply":
            assert call["args"][call["args"].index("-n") + 1] == "peardeck-demo"
    applied = calls[0]["stdin"]
    assert "name: peardeck-demo" in applied and f"image: {IMAGE}" in applied
    assert "served at https://demo.preview.peardeck.example/ (load balancer 203.0.113.7" in result.stdout


def test_a_failed_migration_stops_staging_before_the_new_version_rolls_out(cluster):
    result = run(STAGE, "demo", "--image", IMAGE, FAKE_KUBECTL_FAIL="--for=condition=complete")
    assert result.returncode == 1
    assert "migrations did not complete" in result.stdout
    assert "Operations to perform" in result.stdout, "the migration's log is shown"
    done = verbs(cluster.calls())
    assert "apply app.kubernetes.io/component!=migrate" not in done
    assert not [v for v in done if v.startswith("rollout deployment/")]


def test_several_contexts_are_staged_in_parallel_and_each_gets_the_same_manifests(cluster):
    result = run(
        STAGE, "demo", "--image", IMAGE, "--context", "eu", "--context", "us", FAKE_KUBECTL_DELAY="0.4"
    )
    assert result.returncode == 0, result.stderr
    eu, us = cluster.calls("eu"), cluster.calls("us")
    assert verbs(eu) == verbs(us) and len(eu) == 10
    assert eu[0]["stdin"] == us[0]["stdin"]
    # Four slow rollouts per context: one after the other would not overlap at all.
    assert us[0]["start"] < eu[-1]["end"] and eu[0]["start"] < us[-1]["end"]
    assert "[eu] served at https://demo." in result.stdout and "[us] served at https://demo." in result.stdout


def test_a_failure_on_one_cluster_fails_the_command_and_names_that_cluster(cluster):
    result = run(
        STAGE,
        "demo",
        "--image",
        IMAGE,
        "--context",
        "eu",
        "--context",
        "us",
        FAKE_KUBECTL_FAIL="statefulset/peardeck-postgres",
        FAKE_KUBECTL_FAIL_CONTEXT="us",
    )
    assert result.returncode == 1
    assert "[us] FAILED" in result.stdout
    assert "failed on 1 of 2 contexts: us" in result.stderr
    assert "[eu] served at https://demo." in result.stdout


@pytest.mark.parametrize("name", ["staging", "production", "Demo", "-demo", "demo_1", "x" * 51])
def test_names_that_are_reserved_or_not_dns_labels_are_refused_before_touching_a_cluster(cluster, name):
    staged = run(STAGE, name, "--image", IMAGE)
    unstaged = run(UNSTAGE, name)
    assert staged.returncode == 2 and unstaged.returncode == 2
    assert cluster.calls() == []


def test_unstage_deletes_the_preview_namespace_on_every_context(cluster):
    result = run(UNSTAGE, "demo", "--context", "eu", "--context", "us")
    assert result.returncode == 0, result.stderr
    for context in ("eu", "us"):
        (call,) = cluster.calls(context)
        assert call["args"] == ["delete", "namespace", "peardeck-demo", "--ignore-not-found", "--wait=false"]
    assert 'namespace "peardeck-demo" deleted' in result.stdout


def test_stage_says_so_when_kubectl_is_missing(tmp_path):
    result = run(STAGE, "demo", "--image", IMAGE, "--dry-run", KUBECTL=str(tmp_path / "no-kubectl"))
    assert result.returncode == 2
    assert "not found" in result.stderr
