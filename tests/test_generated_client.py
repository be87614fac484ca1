"""A typed client generated from the live server's /api/openapi.json (openapi-python-client, pinned
in tests/requirements-openapi-client.txt, in its own virtualenv under .venv-tools/) types every
document of a lesson: no success body comes out untyped, and a lesson played with the client
(tests/generated_client/lesson.py) type-checks under mypy's strictest Any rules and runs."""

import json
import os
import re
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.support.server import ROOT, fresh_postgres_database, running_server

pytestmark = pytest.mark.timeout(300)

TOOLS = ROOT / ".venv-tools" / "openapi-client" / "bin"
LESSON = ROOT / "tests" / "generated_client" / "lesson.py"
BODILESS = {"204", "304"}

MYPY_CONFIG = """
[mypy]
strict = True

[mypy-lesson]
disallow_any_expr = True

[mypy-peardeck_client.*]
ignore_errors = True
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not (TOOLS / "openapi-python-client").exists():
        pytest.fail("openapi-python-client is missing: run `make setup-test` (scripts/install-test-tools)")
    tmp = tmp_path_factory.mktemp("generated-client-server")
    env = {"PEARDECK_VAR_DIR": str(tmp), "DEBUG": "false"}
    if os.environ.get("DATABASE_URL"):
        env["DATABASE_URL"] = fresh_postgres_database(os.environ["DATABASE_URL"], "generated_client")
    else:
        env["SQLITE_PATH"] = str(tmp / "client.sqlite3")
    with running_server(env, log_path=tmp / "gunicorn.log") as base:
        yield base


@pytest.fixture(scope="module")
def generated(server, tmp_path_factory) -> tuple[Path, dict]:
    """The client package, generated into a fresh directory, and the document it came from."""
    work = tmp_path_factory.mktemp("generated-client")
    document = httpx.get(f"{server}/api/openapi.json").json()
    (work / "openapi.json").write_text(json.dumps(document))
    (work / "config.yaml").write_text("package_name_override: peardeck_client\npost_hooks: []\n")
    run = subprocess.run(
        [
            str(TOOLS / "openapi-python-client"),
            "generate",
            "--path",
            "openapi.json",
            "--meta",
            "none",
            "--output-path",
            "peardeck_client",
            "--config",
            "config.yaml",
        ],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    # The generator says what it skipped; nothing may be.
    assert "Warning" not in run.stdout + run.stderr, run.stdout + run.stderr
    return work, document


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _components_answered(document: dict) -> set[str]:
    """Every schema component a success body refers to, directly or through another."""
    schemas = document["components"]["schemas"]
    found, todo = set(), []
    for item in document["paths"].values():
        for operation in item.values():
            for status, response in operation["responses"].items():
                if str(status).startswith("2"):
                    todo.append(response.get("content", {}))
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                name = ref.rsplit("/", 1)[1]
                if name not in found:
                    found.add(name)
                    todo.append(schemas[name])
            todo.extend(node.values())
        elif isinstance(node, list):
            todo.extend(node)
    return found


def test_no_success_body_of_any_operation_comes_out_untyped(generated):
    work, document = generated
    package = work / "peardeck_client"
    modules = list((package / "api").rglob("*.py"))
    assert len([module for module in modules if module.name != "__init__.py"]) == sum(
        len(item) for item in document["paths"].values()
    )
    for module in modules:
        for status, parsed in re.findall(r"response_(\d+) = (.+)", module.read_text()):
            if status in BODILESS:
                continue
            assert "Any" not in parsed, f"{module.name}: {status} is parsed as {parsed}"
    answered = _components_answered(document)
    assert {"StudentState", "TeacherState", "ProjectorState", "Takeaways", "Submitted", "Joined"} <= answered
    for name in answered:
        source = (package / "models" / f"{_snake(name)}.py").read_text()
        attributes = re.findall(r"^    (\w+): (.+?)(?: = .*)?$", source, flags=re.MULTILINE)
        assert attributes, name
        untyped = [(attribute, annotation) for attribute, annotation in attributes if "Any" in annotation]
        assert not untyped, f"{name}: {untyped}"


def test_a_lesson_played_with_the_generated_client_type_checks_and_runs(generated, server):
    work, _document = generated
    (work / "lesson.py").write_text(LESSON.read_text())
    (work / "mypy.ini").write_text(MYPY_CONFIG)
    checked = subprocess.run(
        [str(TOOLS / "mypy"), "--config-file", "mypy.ini", "--no-incremental", "lesson.py"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    played = subprocess.run(
        [str(TOOLS / "python"), "lesson.py", server],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert played.returncode == 0, played.stdout + played.stderr
    assert "lesson played" in played.stdout
