"""Starts one rendered container on this machine the way its pod would start it.

The pytest side (`plan_for`) turns a container of a rendered overlay into a plan: the image's
environment (the Dockerfile's final stage, base image included), then the container's `envFrom`
and `env` resolved against the ConfigMaps of the render (secrets stubbed), its command with
Kubernetes' `$(VAR)` expansion, its user, and its volumes. The runner side (`python -m
tests.deploy.container_sandbox PLAN`, started under `unshare -m -n` by `run_plan`) builds a root
filesystem for it and runs it there:

- the root is a tmpfs holding the image's own directories (the Dockerfile's `mkdir -p`), with the
  host's /usr, /etc and Python interpreter, the virtualenv at /opt/venv and the application at /app
  bind-mounted read-only; after the volumes are mounted the root itself is remounted read-only,
  as `readOnlyRootFilesystem: true` makes it;
- only the manifest's volumes are writable (emptyDir: a tmpfs of its own; a projected Secret: stub
  files, read-only; a volume claim: an empty directory), plus one test-only directory that stands
  for the database server (an SQLite file, since the network namespace has no PostgreSQL);
- the process is chrooted there and runs as the pod's `runAsUser` / `runAsGroup` with `fsGroup` as
  a supplementary group, in a network namespace of its own (so ports 8000 and 9100 are free and
  nothing leaves the machine). A Redis server and the Firebase stand-in run beside it, as root,
  when the plan asks for them.

A run-to-completion container must exit 0. A long-running one must pass its startup, liveness and
readiness probes (httpGet or exec, run the same way), pass any extra check the plan names, and then
exit 0 within its grace period after SIGTERM.

Images other than peardeck's are not available here; `OTHER_IMAGES` says which host programs stand
in for them (the preview's PostgreSQL and Redis), so their containers are started too.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "deploy" / "Dockerfile"
VENV = Path(sys.prefix)
# What python:3.11-slim-bookworm sets before the Dockerfile adds its own.
BASE_IMAGE_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
}
# The image's user (useradd in the Dockerfile), so programs that look their uid up find it.
IMAGE_PASSWD_LINE = "peardeck:x:10001:10001::/nonexistent:/usr/sbin/nologin\n"
IMAGE_GROUP_LINE = "peardeck:x:10001:\n"
# Stands for the database server: not a volume of any manifest, the one writable path we add.
DATABASE_DIR = "/run/test-database"
DATABASE_FILE = f"{DATABASE_DIR}/peardeck.sqlite3"
APP_REDIS_PORT = 6379
# Secrets are made out of band in staging and production; these values stand in for them.
STUB_SECRETS = {
    "database-url": f"sqlite:///{DATABASE_FILE}",
    "redis-url": f"redis://127.0.0.1:{APP_REDIS_PORT}/0",
    "secret-key": "container-start-test-" + "k" * 40,
}
# Host programs standing in for images we cannot pull: the image's environment and, where the
# manifest leaves the command to the image's entrypoint, what that entrypoint boils down to.
OTHER_IMAGES = {
    "postgres": {
        "env": {
            "PATH": "/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        },
        "entrypoint": [
            "sh",
            "-c",
            'mkdir -p "$PGDATA" && chmod 700 "$PGDATA" && '
            'initdb --username="$POSTGRES_USER" --auth="$POSTGRES_HOST_AUTH_METHOD" '
            '-D "$PGDATA" >/dev/null && '
            "exec postgres -D \"$PGDATA\" -c listen_addresses='*'",
        ],
    },
    "redis": {"env": {}, "entrypoint": None},
}


# --- the plan (pytest side) ------------------------------------------------------------------------


def _dockerfile_final_stage() -> list[str]:
    text = re.sub(r"^\s*#.*\n", "", DOCKERFILE.read_text(), flags=re.MULTILINE).replace("\\\n", " ")
    stages = re.split(r"^FROM ", text, flags=re.MULTILINE)
    return [line.strip() for line in stages[-1].splitlines() if line.strip()]


def _substitute(value: str, known: dict[str, str]) -> str:
    return re.sub(r"\$(?:\{(\w+)\}|(\w+))", lambda m: known.get(m.group(1) or m.group(2), ""), value)


def image_environment() -> dict[str, str]:
    """The environment every container of the image starts with: the base image's, then each ENV
    of the Dockerfile's final stage (ARG defaults substituted)."""
    args: dict[str, str] = {}
    env = dict(BASE_IMAGE_ENV)
    for line in _dockerfile_final_stage():
        keyword, _, rest = line.partition(" ")
        if keyword == "ARG" and "=" in rest:
            name, _, default = rest.partition("=")
            args[name.strip()] = default.strip()
        elif keyword == "ENV":
            for pair in shlex.split(rest):
                name, _, value = pair.partition("=")
                env[name] = _substitute(value, {**args, **env})
    return env


def image_directories() -> list[tuple[str, int, int]]:
    """(path, uid, gid) of each directory the final stage makes (`mkdir -p`, `chown -R`)."""
    made: list[str] = []
    owners: dict[str, tuple[int, int]] = {}
    for line in _dockerfile_final_stage():
        if not line.startswith("RUN "):
            continue
        for command in re.split(r"&&|;", line[4:]):
            words = shlex.split(command)
            if words[:2] == ["mkdir", "-p"]:
                made += words[2:]
            elif words[:2] == ["chown", "-R"]:
                uid, _, gid = words[2].partition(":")
                for path in words[3:]:
                    owners[path] = (int(uid), int(gid or uid))
    result = []
    for path in made:
        owner = next((o for p, o in owners.items() if path == p or path.startswith(p + "/")), (0, 0))
        result.append((path, *owner))
    return result


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion in command and args: defined names expand, $$ escapes, an
    undefined reference stays as written."""
    return re.sub(
        r"\$\$|\$\((\w+)\)",
        lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)),
        text,
    )


def _config_maps(objects: list[dict]) -> dict[str, dict]:
    return {o["metadata"]["name"]: o.get("data", {}) for o in objects if o["kind"] == "ConfigMap"}


def container_environment(objects: list[dict], container: dict, image_env: dict[str, str]) -> dict[str, str]:
    maps = _config_maps(objects)
    env = dict(image_env)
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            ref = source["configMapRef"]
            assert ref["name"] in maps or ref.get("optional"), f"envFrom names a missing ConfigMap {ref}"
            env.update({source.get("prefix", "") + k: v for k, v in maps.get(ref["name"], {}).items()})
        elif "secretRef" in source:
            env.update({source.get("prefix", "") + k: v for k, v in STUB_SECRETS.items()})
    for entry in container.get("env", []):
        if "value" in entry:
            env[entry["name"]] = expand(str(entry["value"]), env)
        elif "configMapKeyRef" in entry.get("valueFrom", {}):
            ref = entry["valueFrom"]["configMapKeyRef"]
            env[entry["name"]] = maps[ref["name"]][ref["key"]]
        elif "secretKeyRef" in entry.get("valueFrom", {}):
            env[entry["name"]] = STUB_SECRETS.get(entry["valueFrom"]["secretKeyRef"]["key"], "stub")
        else:
            env[entry["name"]] = "stub"
    return env


def _volume_plan(volume: dict, pod_security: dict, objects: list[dict], service_account: dict) -> dict:
    if "emptyDir" in volume:
        return {"kind": "emptyDir", "size": volume["emptyDir"].get("sizeLimit", "64Mi")}
    if "projected" in volume or "secret" in volume or "configMap" in volume:
        files: dict[str, str] = {}
        sources = volume["projected"]["sources"] if "projected" in volume else [volume]
        maps = _config_maps(objects)
        for source in sources:
            if "secret" in source:
                for item in source["secret"].get("items", []):
                    if item["key"] == "credentials.json":
                        files[item["path"]] = json.dumps(service_account)
                    else:
                        files[item["path"]] = STUB_SECRETS.get(item["key"], "stub")
            elif "configMap" in source:
                data = maps[source["configMap"]["name"]]
                for item in source["configMap"].get("items") or [{"key": k, "path": k} for k in data]:
                    files[item["path"]] = data[item["key"]]
            else:
                raise AssertionError(f"volume {volume['name']}: no stand-in for source {source}")
        spec = volume.get("projected") or volume.get("secret") or volume.get("configMap")
        return {
            "kind": "files",
            "files": files,
            "mode": spec.get("defaultMode", 0o644),
            "group": pod_security.get("fsGroup", 0),
        }
    raise AssertionError(f"volume {volume['name']}: no stand-in for {sorted(volume)}")


def plan_for(
    objects: list[dict],
    workload: dict,
    container: dict,
    *,
    init: bool,
    service_account: dict,
    checks: dict | None = None,
) -> dict:
    """Everything the runner needs to start `container` of `workload` as its pod would."""
    kind = workload["kind"]
    pod = workload["spec"]["template"]["spec"]
    pod_security = pod.get("securityContext", {})
    security = {**pod_security, **container.get("securityContext", {})}
    image = container["image"].split("@")[0].split(":")[0].rsplit("/", 1)[-1]
    if image == "peardeck":
        env = container_environment(objects, container, image_environment())
        entrypoint: list[str] | None = None
        image_dirs = image_directories()
    else:
        assert image in OTHER_IMAGES, f"no host stand-in for the image {container['image']}"
        other = OTHER_IMAGES[image]
        env = container_environment(objects, container, {**BASE_IMAGE_ENV, **other["env"]})
        entrypoint = other["entrypoint"]
        image_dirs = []
    command = [expand(word, env) for word in container.get("command", [])]
    args = [expand(word, env) for word in container.get("args", [])]
    argv = (command or entrypoint or []) + args
    assert argv, f"{container['name']}: no command to run"

    # PersistentVolumeClaims from a StatefulSet's templates are writable volumes too.
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for claim in workload["spec"].get("volumeClaimTemplates", []):
        volumes[claim["metadata"]["name"]] = {"name": claim["metadata"]["name"], "persistentVolumeClaim": {}}
    mounts = []
    for mount in container.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        if "persistentVolumeClaim" in volume:
            plan = {"kind": "emptyDir", "size": "256Mi"}
        else:
            plan = _volume_plan(volume, pod_security, objects, service_account)
        mounts.append({"path": mount["mountPath"], "read_only": bool(mount.get("readOnly")), **plan})

    def probe(name: str) -> dict | None:
        spec = container.get(name)
        if not spec:
            return None
        if "httpGet" in spec:
            port = spec["httpGet"]["port"]
            if isinstance(port, str):
                port = next(p["containerPort"] for p in container["ports"] if p["name"] == port)
            return {"name": name, "http": f"http://127.0.0.1:{port}{spec['httpGet'].get('path', '/')}"}
        if "exec" in spec:
            return {"name": name, "exec": spec["exec"]["command"]}
        raise AssertionError(f"{container['name']} {name}: unsupported probe {sorted(spec)}")

    probes = [p for p in map(probe, ("startupProbe", "livenessProbe", "readinessProbe")) if p]
    # Prometheus scrapes the port named "metrics" (the PodMonitors and the ServiceMonitor).
    for port in container.get("ports", []):
        if port.get("name") == "metrics":
            probes.append(
                {"name": "metrics port", "http": f"http://127.0.0.1:{port['containerPort']}/metrics"}
            )
    one_shot = init or kind in {"Job", "CronJob"}
    return {
        "title": f"{workload['kind']}/{workload['metadata']['name']} {container['name']}",
        "argv": argv,
        "env": env,
        "cwd": container.get("workingDir") or ("/app" if image == "peardeck" else "/"),
        "uid": security.get("runAsUser", 0),
        "gid": security.get("runAsGroup", security.get("runAsUser", 0)),
        "groups": [pod_security["fsGroup"]] if "fsGroup" in pod_security else [],
        "read_only_root": bool(security.get("readOnlyRootFilesystem")),
        "image": image,
        "image_dirs": image_dirs,
        "mounts": mounts,
        "one_shot": one_shot,
        "probes": [] if one_shot else probes,
        "grace_seconds": pod.get("terminationGracePeriodSeconds", 30),
        "app_services": image == "peardeck",
        **(checks or {}),
    }


def run_plan(plan: dict, workdir: Path, *, timeout: float = 120) -> dict:
    """Runs the plan in fresh mount and network namespaces; returns the runner's report."""
    workdir.mkdir(parents=True, exist_ok=True)
    plan_path = workdir / "plan.json"
    plan_path.write_text(json.dumps({**plan, "workdir": str(workdir)}))
    result = subprocess.run(
        [
            "unshare",
            "--mount",
            "--net",
            "--propagation",
            "private",
            sys.executable,
            "-m",
            __name__,
            str(plan_path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    report_path = workdir / "report.json"
    if not report_path.exists():
        raise AssertionError(f"the runner failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return json.loads(report_path.read_text())


# --- the runner (inside the namespaces, as root) ---------------------------------------------------


def _sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


def _bind(source: str | Path, target: Path, *, read_only: bool = True, recursive: bool = False) -> None:
    if Path(source).is_dir():
        target.mkdir(parents=True, exist_ok=True)
    elif not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch()
    _sh("mount", "--rbind" if recursive else "--bind", str(source), str(target))
    if read_only:
        _sh("mount", "-o", "remount,bind,ro", str(target))


def _build_root(plan: dict, root: Path, scratch: Path) -> None:
    _sh("mount", "-t", "tmpfs", "-o", "mode=0755,size=64m", "tmpfs", str(root))
    for name in ("bin", "lib", "lib64", "sbin"):
        host = Path("/") / name
        if host.is_symlink():
            (root / name).symlink_to(os.readlink(host))
        elif host.is_dir():
            _bind(host, root / name)
    for host in ("/usr", "/etc"):
        _bind(host, root / host.lstrip("/"))
    _bind("/dev", root / "dev", read_only=False, recursive=True)
    _bind("/proc", root / "proc", read_only=False, recursive=True)
    # The interpreter the virtualenv points at, wherever the host keeps it.
    interpreter_home = Path(os.path.realpath(sys.base_prefix))
    if not str(interpreter_home).startswith("/usr/"):
        _bind(interpreter_home, root / str(interpreter_home).lstrip("/"))
    # The virtualenv where the image has it, and where its scripts' #! lines look for it.
    _bind(VENV, root / "opt/venv")
    _bind(VENV, root / str(VENV).lstrip("/"))
    # The application as `COPY . /app` lays it out (.dockerignore keeps local state out).
    ignored = {".git", ".venv", ".venv-tools", "var", "staticfiles", "node_modules", "artifacts"}
    (root / "app").mkdir()
    for entry in REPO.iterdir():
        if entry.name not in ignored and not entry.name.endswith(".sqlite3"):
            _bind(entry, root / "app" / entry.name)
    (root / "app/staticfiles").mkdir()
    passwd = scratch / "passwd"
    passwd.write_text(Path("/etc/passwd").read_text() + IMAGE_PASSWD_LINE)
    group = scratch / "group"
    group.write_text(Path("/etc/group").read_text() + IMAGE_GROUP_LINE)
    _bind(passwd, root / "etc/passwd")
    _bind(group, root / "etc/group")
    (root / "tmp").mkdir(mode=0o1777, exist_ok=True)
    os.chmod(root / "tmp", 0o1777)
    for path, uid, gid in plan["image_dirs"]:
        target = root / path.lstrip("/")
        target.mkdir(parents=True, exist_ok=True)
        os.chown(target, uid, gid)
    database = root / DATABASE_DIR.lstrip("/")
    database.mkdir(parents=True)
    for number, mount in enumerate(plan["mounts"]):
        target = root / mount["path"].lstrip("/")
        target.mkdir(parents=True, exist_ok=True)
        if mount["kind"] == "emptyDir":
            # Kubernetes makes an emptyDir world-writable.
            _sh("mount", "-t", "tmpfs", "-o", f"mode=0777,size={_bytes(mount['size'])}", "tmpfs", str(target))
        else:
            source = scratch / f"volume-{number}"
            source.mkdir()
            for name, content in mount["files"].items():
                path = source / name
                path.write_text(content)
                os.chown(path, 0, mount["group"])
                os.chmod(path, mount["mode"])
            _bind(source, target, read_only=True)
        if mount["read_only"]:
            _sh("mount", "-o", "remount,bind,ro", str(target))
    # The database server's stand-in: its own tmpfs, owned by the pod's user.
    _sh(
        "mount",
        "-t",
        "tmpfs",
        "-o",
        f"mode=0700,uid={plan['uid']},gid={plan['gid']},size=128m",
        "tmpfs",
        str(database),
    )
    if plan.get("database_template"):
        copy = database / Path(DATABASE_FILE).name
        copy.write_bytes(Path(plan["database_template"]).read_bytes())
        os.chown(copy, plan["uid"], plan["gid"])
    if plan["read_only_root"]:
        _sh("mount", "-o", "remount,ro", str(root))


def _bytes(size: str) -> int:
    units = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "k": 1000, "M": 1000**2, "G": 1000**3}
    match = re.fullmatch(r"(\d+)([A-Za-z]*)", str(size))
    return int(match.group(1)) * units.get(match.group(2), 1)


def _enter(plan: dict, root: Path):
    def preexec() -> None:
        os.setsid()
        os.chroot(root)
        os.chdir(plan["cwd"])
        os.setgroups(plan["groups"])
        os.setgid(plan["gid"])
        os.setuid(plan["uid"])

    return preexec


def _start_app_services(plan: dict, stack: list) -> dict[str, str]:
    """Redis (and, if asked, the Firebase stand-in) beside the container, as root, in its netns."""
    extra: dict[str, str] = {}
    redis = subprocess.Popen(
        [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(APP_REDIS_PORT),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stack.append(lambda: (redis.terminate(), redis.wait(10)))
    if plan.get("firebase_standin"):
        sys.path.insert(0, str(REPO))
        from tests.firebase_standin.server import StandIn

        standin = StandIn(keepalive_seconds=1.0).start()
        stack.append(standin.stop)
        extra["FIREBASE_DATABASE_EMULATOR_HOST"] = standin.address
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if (
            subprocess.run(["redis-cli", "-p", str(APP_REDIS_PORT), "ping"], capture_output=True).returncode
            == 0
        ):
            break
        time.sleep(0.1)
    return extra


def _probe_once(probe: dict, plan: dict, root: Path, env: dict) -> tuple[bool, str]:
    if "http" in probe:
        try:
            with urllib.request.urlopen(probe["http"], timeout=3) as response:
                return 200 <= response.status < 400, f"HTTP {response.status}"
        except Exception as exc:  # any failure is a failed probe
            return False, repr(exc)
    result = subprocess.run(
        probe["exec"], preexec_fn=_enter(plan, root), env=env, capture_output=True, text=True, timeout=10
    )
    return result.returncode == 0, (result.stdout + result.stderr).strip()[-300:]


def run(plan: dict) -> dict:
    workdir = Path(plan["workdir"])
    root = workdir / "root"
    root.mkdir(exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=workdir, prefix="scratch-"))
    _sh("ip", "link", "set", "lo", "up")
    _build_root(plan, root, scratch)
    stack: list = []
    env = dict(plan["env"])
    if plan["app_services"]:
        env.update(_start_app_services(plan, stack))
    log_path = workdir / "output.log"
    report: dict = {"title": plan["title"], "argv": plan["argv"], "probes": {}}
    try:
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                plan["argv"], preexec_fn=_enter(plan, root), env=env, stdout=log, stderr=subprocess.STDOUT
            )
            if plan["one_shot"]:
                try:
                    report["exit_code"] = process.wait(timeout=plan.get("timeout", 90))
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    report["exit_code"] = "timeout"
            else:
                _watch(plan, root, env, process, log_path, report)
    finally:
        for stop in reversed(stack):
            with contextlib.suppress(Exception):  # best effort on the way out
                stop()
    report["output"] = log_path.read_text(errors="replace")[-6000:]
    return report


def _watch(
    plan: dict, root: Path, env: dict, process: subprocess.Popen, log_path: Path, report: dict
) -> None:
    deadline = time.monotonic() + plan.get("start_seconds", 60)
    pending = list(plan["probes"])
    expected = plan.get("expect_output")
    while time.monotonic() < deadline and process.poll() is None:
        for probe in list(pending):
            passed, detail = _probe_once(probe, plan, root, env)
            report["probes"][probe["name"]] = detail
            if passed:
                pending.remove(probe)
        output_ok = not expected or re.search(expected, log_path.read_text(errors="replace"))
        if not pending and output_ok:
            break
        time.sleep(0.5)
    report["failed_probes"] = [p["name"] for p in pending]
    report["expected_output_seen"] = bool(
        not expected or re.search(expected, log_path.read_text(errors="replace"))
    )
    report["exited_early"] = process.poll() is not None
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            report["exit_code"] = process.wait(timeout=plan["grace_seconds"])
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            report["exit_code"] = "killed after the grace period"
    else:
        report["exit_code"] = process.returncode
    # Whatever the container started (gunicorn's workers, postgres' backends) goes with it.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def main() -> None:
    plan = json.loads(Path(sys.argv[1]).read_text())
    report = run(plan)
    (Path(plan["workdir"]) / "report.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    threading.current_thread().name = "container-sandbox"
    main()
