"""The rendered overlays: valid Kubernetes, hardened pods, and the shape the app's contract needs."""

import base64
import json
import re
import subprocess

import pytest

from tests.deploy.conftest import (
    CUSTOM_KINDS,
    OVERLAYS,
    find,
    find_by_prefix,
    pod_spec,
    render_overlay,
    workloads,
)

KUBERNETES_VERSION = "1.37.0"


def containers(obj: dict) -> list[dict]:
    spec = pod_spec(obj)
    return spec.get("initContainers", []) + spec["containers"]


def peardeck_workloads(objects):
    return [
        o for o in workloads(objects) if o["metadata"]["labels"].get("app.kubernetes.io/name") == "peardeck"
    ]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_overlay_renders_with_kubectl_kustomize(kubectl, overlay):
    text = render_overlay(kubectl, overlay)
    assert "kind: Deployment" in text


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_built_in_object_passes_strict_schema_validation(
    rendered_text, rendered, kubernetes_validate, tmp_path, overlay
):
    manifest = tmp_path / f"{overlay}.yaml"
    manifest.write_text(rendered_text[overlay])
    result = subprocess.run(
        [kubernetes_validate, "--strict", "-k", KUBERNETES_VERSION, str(manifest)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    built_in = [o for o in rendered[overlay] if o["kind"] not in CUSTOM_KINDS]
    passed = re.findall(r"passed for resource (\S+)", result.stdout + result.stderr)
    assert len(passed) == len(built_in), f"validated {passed}, expected {len(built_in)} built-in objects"


# What each custom resource's CRD requires, since kubernetes-validate has no schema for them.
CUSTOM_RESOURCE_FIELDS = {
    ("BackendConfig", "cloud.google.com/v1"): ["timeoutSec", "healthCheck", "connectionDraining"],
    ("ServiceMonitor", "monitoring.coreos.com/v1"): ["selector", "endpoints"],
    ("PodMonitor", "monitoring.coreos.com/v1"): ["selector", "podMetricsEndpoints"],
    ("PrometheusRule", "monitoring.coreos.com/v1"): ["groups"],
}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_custom_resource_has_the_fields_its_crd_requires(rendered, overlay):
    custom = [o for o in rendered[overlay] if o["kind"] in CUSTOM_KINDS]
    assert {o["kind"] for o in custom} == CUSTOM_KINDS
    for obj in custom:
        where = f"{overlay} {obj['kind']}/{obj['metadata'].get('name')}"
        required = CUSTOM_RESOURCE_FIELDS.get((obj["kind"], obj["apiVersion"]))
        assert required is not None, f"{where}: unexpected apiVersion {obj['apiVersion']}"
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", obj["metadata"]["name"]), where
        assert obj["metadata"]["namespace"].startswith("peardeck"), where
        assert set(obj) <= {"apiVersion", "kind", "metadata", "spec"}, where
        missing = [field for field in required if not obj["spec"].get(field)]
        assert not missing, f"{where}: missing {missing}"
        if "selector" in required:
            assert obj["spec"]["selector"]["matchLabels"], where


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_has_requests_limits_and_probes(rendered, overlay):
    for obj in workloads(rendered[overlay]):
        for container in containers(obj):
            where = f"{overlay} {obj['kind']}/{obj['metadata']['name']} container {container['name']}"
            resources = container.get("resources", {})
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(bound, {})), f"{where}: {bound} missing"
            if obj["kind"] in {"Job", "CronJob"}:
                # A run-to-completion container has nothing a probe could ask (see migrate/job.yaml).
                continue
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                assert probe in container, f"{where}: {probe} missing"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_meets_the_restricted_pod_security_standard(rendered, overlay):
    for obj in workloads(rendered[overlay]):
        spec = pod_spec(obj)
        pod_security = spec.get("securityContext", {})
        assert pod_security.get("seccompProfile", {}).get("type") == "RuntimeDefault"
        assert not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC")
        for volume in spec.get("volumes", []):
            assert "hostPath" not in volume
        for container in containers(obj):
            where = f"{overlay} {obj['kind']}/{obj['metadata']['name']} container {container['name']}"
            security = {**pod_security, **container.get("securityContext", {})}
            assert security.get("runAsNonRoot") is True, f"{where}: may run as root"
            assert security.get("runAsUser", 0) >= 10000, f"{where}: runs as a low or root uid"
            assert security.get("readOnlyRootFilesystem") is True, f"{where}: writable root filesystem"
            assert security.get("allowPrivilegeEscalation") is False, f"{where}: may escalate"
            assert security.get("capabilities", {}).get("drop") == ["ALL"], f"{where}: keeps capabilities"
            assert not security.get("capabilities", {}).get("add"), f"{where}: adds capabilities"
            assert not security.get("privileged"), f"{where}: privileged"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_namespace_enforces_the_restricted_pod_security_standard(rendered, overlay):
    namespaces = [o for o in rendered[overlay] if o["kind"] == "Namespace"]
    assert len(namespaces) == 1
    assert namespaces[0]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    namespaced = [o for o in rendered[overlay] if o["kind"] != "Namespace"]
    assert {o["metadata"]["namespace"] for o in namespaced} == {namespaces[0]["metadata"]["name"]}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_run_as_an_account_with_no_kubernetes_permissions_and_no_token(rendered, overlay):
    objects = rendered[overlay]
    account = find(objects, "ServiceAccount", "peardeck")
    assert account["automountServiceAccountToken"] is False
    assert not [
        o for o in objects if o["kind"] in {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}
    ]
    for obj in workloads(objects):
        spec = pod_spec(obj)
        assert spec["serviceAccountName"] == "peardeck", obj["metadata"]["name"]
        assert spec["automountServiceAccountToken"] is False, obj["metadata"]["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_web_liveness_never_depends_on_the_database_redis_or_firebase(rendered, overlay):
    web = find(rendered[overlay], "Deployment", "peardeck-web")
    (container,) = web["spec"]["template"]["spec"]["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["command"] == ["gunicorn", "-c", "gunicorn.conf.py", "peardeck.asgi:application"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["PEARDECK_BIND"] == "0.0.0.0:8000"
    # gunicorn.conf.py serves the workers' summed metrics from the master on this address.
    assert env["PEARDECK_METRICS_BIND"] == "0.0.0.0:9100"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": 8000, "metrics": 9100}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_web_pods_get_time_to_drain_websockets_before_they_are_killed(rendered, overlay):
    objects = rendered[overlay]
    web = find(objects, "Deployment", "peardeck-web")
    spec = web["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    graceful = int(find_by_prefix(objects, "ConfigMap", "peardeck-config")["data"]["GRACEFUL_TIMEOUT"])
    assert 5 <= pre_stop <= 10
    assert graceful == 25
    assert spec["terminationGracePeriodSeconds"] > pre_stop + graceful
    draining = find(objects, "BackendConfig", "peardeck-web")["spec"]["connectionDraining"]
    assert draining["drainingTimeoutSec"] >= pre_stop + graceful


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_ingress_sends_only_the_app_port_and_keeps_websockets_open(rendered, overlay):
    objects = rendered[overlay]
    ingress = find(objects, "Ingress", "peardeck-web")
    assert ingress["metadata"]["annotations"]["kubernetes.io/ingress.class"] == "gce"
    backends = [p["backend"]["service"] for r in ingress["spec"]["rules"] for p in r["http"]["paths"]]
    assert backends == [{"name": "peardeck-web", "port": {"name": "http"}}]
    service = find(objects, "Service", "peardeck-web")
    by_name = {p["name"]: p["port"] for p in service["spec"]["ports"]}
    assert by_name["http"] == 8000
    annotation = service["metadata"]["annotations"]["cloud.google.com/backend-config"]
    assert annotation == '{"ports": {"http": "peardeck-web"}}'
    backend = find(objects, "BackendConfig", "peardeck-web")
    assert backend["apiVersion"] == "cloud.google.com/v1"
    assert backend["spec"]["timeoutSec"] >= 3600
    assert backend["spec"]["healthCheck"]["requestPath"] == "/readyz"
    assert backend["spec"]["healthCheck"]["port"] == 8000


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_autoscaling_scales_up_at_once_and_down_slowly(rendered, overlay):
    hpa = find(rendered[overlay], "HorizontalPodAutoscaler", "peardeck-web")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "peardeck-web"
    up, down = hpa["spec"]["behavior"]["scaleUp"], hpa["spec"]["behavior"]["scaleDown"]
    assert up["stabilizationWindowSeconds"] == 0
    assert max(p["value"] for p in up["policies"] if p["type"] == "Percent") >= 100
    assert down["stabilizationWindowSeconds"] >= 900
    assert max(p["value"] for p in down["policies"] if p["type"] == "Percent") <= 20


def test_production_holds_more_web_pods_than_staging_and_previews(rendered):
    def bounds(overlay):
        spec = find(rendered[overlay], "HorizontalPodAutoscaler", "peardeck-web")["spec"]
        return spec["minReplicas"], spec["maxReplicas"]

    assert bounds("production")[0] > bounds("staging")[0] >= bounds("preview")[0] >= 1
    assert bounds("production")[1] > bounds("staging")[1] > bounds("preview")[1]
    production_web = find(rendered["production"], "Deployment", "peardeck-web")
    assert production_web["spec"]["replicas"] == bounds("production")[0]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_a_disruption_budget_keeps_most_web_pods_through_node_upgrades(rendered, overlay):
    objects = rendered[overlay]
    pdb = find(objects, "PodDisruptionBudget", "peardeck-web")
    web = find(objects, "Deployment", "peardeck-web")
    assert pdb["spec"]["selector"]["matchLabels"] == web["spec"]["selector"]["matchLabels"]
    assert "maxUnavailable" in pdb["spec"] or "minAvailable" in pdb["spec"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_one_firebase_worker_ever_runs(rendered, overlay):
    worker = find(rendered[overlay], "Deployment", "peardeck-firebase-worker")
    assert worker["spec"]["replicas"] == 1
    assert worker["spec"]["strategy"]["type"] == "Recreate"
    (container,) = worker["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "manage.py", "firebase_worker"]
    assert not [
        o
        for o in rendered[overlay]
        if o["kind"] == "HorizontalPodAutoscaler"
        and o["spec"]["scaleTargetRef"]["name"] == "peardeck-firebase-worker"
    ]


@pytest.mark.parametrize("overlay", ["staging", "production"])
def test_the_firebase_probe_reports_the_location_its_overlay_names(rendered, overlay):
    objects = rendered[overlay]
    probe = find(objects, "Deployment", "peardeck-firebase-probe")
    (container,) = probe["spec"]["template"]["spec"]["containers"]
    assert container["command"] == [
        "python",
        "manage.py",
        "firebase_probe",
        "--location",
        "$(FIREBASE_PROBE_LOCATION)",
    ]
    config = find_by_prefix(objects, "ConfigMap", "peardeck-config")["data"]
    assert re.fullmatch(r"[a-z]+-[a-z]+[0-9]", config["FIREBASE_PROBE_LOCATION"])
    assert config["FIREBASE_DATABASE_URLS"].startswith("https://")
    refs = [e["configMapRef"]["name"] for e in container["envFrom"]]
    assert refs == [find_by_prefix(objects, "ConfigMap", "peardeck-config")["metadata"]["name"]]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_migration_job_runs_migrate_once_without_retrying_forever(rendered, overlay):
    job = find(rendered[overlay], "Job", "peardeck-migrate")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "manage.py", "migrate", "--no-input"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert job["spec"]["backoffLimit"] <= 3
    assert job["spec"]["activeDeadlineSeconds"] > 0


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_peardeck_pods_read_secrets_from_mounted_files_and_write_only_to_empty_dirs(rendered, overlay):
    objects = rendered[overlay]
    config = find_by_prefix(objects, "ConfigMap", "peardeck-config")["data"]
    for obj in peardeck_workloads(objects):
        spec = pod_spec(obj)
        (container,) = spec["containers"]
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in spec["volumes"]}
        for variable in (
            "DATABASE_URL_FILE",
            "REDIS_URL_FILE",
            "SECRET_KEY_FILE",
            "FIREBASE_CREDENTIALS_FILE",
        ):
            directory, _, filename = config[variable].rpartition("/")
            mount = mounts[directory]
            assert mount["readOnly"] is True
            sources = volumes[mount["name"]]["projected"]["sources"]
            assert filename in [item["path"] for s in sources for item in s["secret"]["items"]]
        writable = [m for m in mounts.values() if not m.get("readOnly")]
        assert {m["mountPath"] for m in writable} >= {"/tmp", config["PEARDECK_VAR_DIR"]}
        for mount in writable:
            assert "emptyDir" in volumes[mount["name"]], mount
    web = find(objects, "Deployment", "peardeck-web")
    (container,) = web["spec"]["template"]["spec"]["containers"]
    multiproc = {e["name"]: e["value"] for e in container["env"]}["PROMETHEUS_MULTIPROC_DIR"]
    assert multiproc in {m["mountPath"] for m in container["volumeMounts"]}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_uvicorn_trusts_forwarded_headers_only_from_the_load_balancer(rendered, overlay):
    objects = rendered[overlay]
    config = find_by_prefix(objects, "ConfigMap", "peardeck-config")["data"]
    policy = find(objects, "NetworkPolicy", "peardeck-web-from-load-balancer")["spec"]
    admitted = [source["ipBlock"]["cidr"] for rule in policy["ingress"] for source in rule["from"]]
    assert config["FORWARDED_ALLOW_IPS"].split(",") == admitted
    assert "*" not in config["FORWARDED_ALLOW_IPS"]


@pytest.mark.parametrize("overlay", ["staging", "production"])
def test_long_lived_environments_use_https_and_managed_datastores(rendered, overlay):
    objects = rendered[overlay]
    config = find_by_prefix(objects, "ConfigMap", "peardeck-config")["data"]
    assert config["PEARDECK_HTTPS"] == "true"
    # Google's load balancer appends `<client>, <lb>`: the client is the second entry from the right.
    assert config["TRUSTED_PROXY_COUNT"] == "2"
    assert "DATABASE_URL" not in config and "REDIS_URL" not in config
    assert not [o for o in objects if o["kind"] in {"StatefulSet", "Secret"}], "secrets are made out of band"
    host = find(objects, "Ingress", "peardeck-web")["spec"]["rules"][0]["host"]
    assert config["ALLOWED_HOSTS"] == host
    assert config["CSRF_TRUSTED_ORIGINS"] == f"https://{host}"


@pytest.mark.parametrize("overlay", ["staging", "production"])
def test_with_firebase_on_the_browsers_get_a_web_config_for_its_project(rendered, overlay):
    config = find_by_prefix(rendered[overlay], "ConfigMap", "peardeck-config")["data"]
    assert config["FIREBASE_DATABASE_URLS"]
    web = json.loads(config["FIREBASE_WEB_CONFIG"])
    assert web["apiKey"] and web["projectId"] and web["authDomain"] == f"{web['projectId']}.firebaseapp.com"
    assert config["FIREBASE_FIRST"] in ("true", "false")


def test_a_preview_brings_its_own_postgres_and_redis(rendered):
    objects = rendered["preview"]
    postgres = find(objects, "StatefulSet", "peardeck-postgres")
    redis = find(objects, "StatefulSet", "peardeck-redis")
    secret = find_by_prefix(objects, "Secret", "peardeck-secrets")
    urls = {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}
    assert urls["database-url"].startswith("postgres://peardeck@peardeck-postgres:5432/")
    assert urls["redis-url"].startswith("redis://peardeck-redis:6379/")
    find(objects, "Service", "peardeck-postgres")
    find(objects, "Service", "peardeck-redis")
    assert postgres["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
    assert redis["spec"]["replicas"] == postgres["spec"]["replicas"] == 1
    web = find(objects, "Deployment", "peardeck-web")
    assert web["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "100m"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_admit_only_the_load_balancer_and_prometheus(rendered, overlay):
    policies = {o["metadata"]["name"]: o["spec"] for o in rendered[overlay] if o["kind"] == "NetworkPolicy"}
    deny = policies["peardeck-default-deny-ingress"]
    assert deny["podSelector"] == {} and deny["policyTypes"] == ["Ingress"] and "ingress" not in deny
    metrics = policies["peardeck-metrics-from-monitoring"]
    (rule,) = metrics["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 9100}]
    assert rule["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]
    web = policies["peardeck-web-from-load-balancer"]
    (rule,) = web["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 8000}]
    assert all("ipBlock" in source for source in rule["from"])
    # Nothing opens 9100 to anyone but the monitoring namespace.
    for name, spec in policies.items():
        for ingress_rule in spec.get("ingress", []):
            if any(p.get("port") == 9100 for p in ingress_rule.get("ports", [])):
                assert name == "peardeck-metrics-from-monitoring"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_prometheus_scrapes_every_peardeck_pod_on_its_metrics_port(rendered, overlay):
    objects = rendered[overlay]
    monitors = [o for o in objects if o["kind"] in {"ServiceMonitor", "PodMonitor"}]
    for monitor in monitors:
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        endpoints = monitor["spec"][
            "endpoints" if monitor["kind"] == "ServiceMonitor" else "podMetricsEndpoints"
        ]
        assert endpoints and all(e["port"] == "metrics" and e["path"] == "/metrics" for e in endpoints)
        jobs = [r["replacement"] for e in endpoints for r in e["relabelings"] if r["targetLabel"] == "job"]
        assert jobs and all(job.startswith("peardeck") for job in jobs), "TargetDown matches job=~peardeck.*"
    services = [o for o in objects if o["kind"] == "Service"]
    for obj in workloads(objects):
        if obj["kind"] == "Job" or obj["metadata"]["labels"].get("app.kubernetes.io/name") != "peardeck":
            continue
        labels = obj["spec"]["template"]["metadata"]["labels"]
        (container,) = obj["spec"]["template"]["spec"]["containers"]
        assert {"name": "metrics", "containerPort": 9100} in container["ports"]

        def selects(selector, target_labels):
            return selector["matchLabels"].items() <= target_labels.items()

        scraped = [
            m for m in monitors if m["kind"] == "PodMonitor" and selects(m["spec"]["selector"], labels)
        ]
        for service in services:
            if service["spec"]["selector"].items() <= labels.items():
                scraped += [
                    m
                    for m in monitors
                    if m["kind"] == "ServiceMonitor"
                    and selects(m["spec"]["selector"], service["metadata"]["labels"])
                ]
        assert len(scraped) == 1, f"{obj['metadata']['name']} is scraped by {len(scraped)} monitors"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_peardeck_workload_runs_the_overlay_image(rendered, overlay):
    images = {c["image"] for o in peardeck_workloads(rendered[overlay]) for c in containers(o)}
    assert len(images) == 1
    (image,) = images
    assert re.fullmatch(r"\S*peardeck[:@]\S+", image)


SIGN_IN_PROVIDERS = ("GOOGLE", "MICROSOFT")


@pytest.mark.parametrize("overlay", ["staging", "production"])
def test_web_pods_sign_teachers_in_with_school_accounts_whose_secrets_come_from_a_secret(rendered, overlay):
    objects = rendered[overlay]
    web = find(objects, "Deployment", "peardeck-web")
    spec = pod_spec(web)
    (container,) = spec["containers"]
    env = {e["name"]: e for e in container["env"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert env["PASSWORD_SIGN_IN"]["value"] == "false"
    for provider in SIGN_IN_PROVIDERS:
        assert env[f"OIDC_{provider}_CLIENT_ID"]["value"]
        assert f"OIDC_{provider}_CLIENT_SECRET" not in env, "a client secret never sits in the manifests"
        directory, _, filename = env[f"OIDC_{provider}_CLIENT_SECRET_FILE"]["value"].rpartition("/")
        assert mounts[directory]["readOnly"] is True
        sources = volumes[mounts[directory]["name"]]["projected"]["sources"]
        (source,) = [s["secret"] for s in sources if filename in [i["path"] for i in s["secret"]["items"]]]
        assert source["name"] == "peardeck-oidc"
    config = find_by_prefix(objects, "ConfigMap", "peardeck-config")["data"]
    assert not [key for key in config if key.startswith("OIDC_")]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_web_pods_hold_the_sign_in_secrets(rendered, overlay):
    for obj in peardeck_workloads(rendered[overlay]):
        if obj["metadata"]["name"] == "peardeck-web":
            continue
        spec = pod_spec(obj)
        names = [e["name"] for c in spec["containers"] for e in c.get("env", [])]
        assert not [name for name in names if name.startswith("OIDC_")], obj["metadata"]["name"]
        projected = [v["projected"]["sources"] for v in spec["volumes"] if "projected" in v]
        assert "peardeck-oidc" not in [s["secret"]["name"] for sources in projected for s in sources]


def test_a_preview_keeps_password_sign_in_and_no_school_sign_in(rendered):
    web = find(rendered["preview"], "Deployment", "peardeck-web")
    (container,) = pod_spec(web)["containers"]
    names = {e["name"] for e in container["env"]}
    assert "PASSWORD_SIGN_IN" not in names
    assert not [name for name in names if name.startswith("OIDC_")]
