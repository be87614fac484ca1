"""The container image recipe, read as text: no Docker engine is needed to hold it to its contract."""

import re

import pytest

from tests.deploy.conftest import DEPLOY, REPO

DOCKERFILE = (DEPLOY / "Dockerfile").read_text()


def stages() -> list[str]:
    """The Dockerfile cut at each FROM, comments dropped, continuation lines joined."""
    text = re.sub(r"^\s*#.*\n", "", DOCKERFILE, flags=re.MULTILINE).replace("\\\n", " ")
    return ["FROM" + part for part in re.split(r"^FROM", text, flags=re.MULTILINE)[1:]]


def test_the_image_is_built_in_stages_on_python_3_11_slim():
    froms = [stage.splitlines()[0] for stage in stages()]
    assert len(froms) >= 2
    assert all(re.match(r"FROM python:3\.11-slim\S* AS \w+", line) for line in froms), froms


def test_the_final_stage_has_no_compilers_and_copies_only_built_results():
    final = stages()[-1]
    assert not re.search(r"build-essential|gcc|g\+\+|\bmake\b|-dev\b|pip install", final)
    assert "apt-get install" not in final
    assert re.findall(r"^COPY (.*)$", final, re.MULTILINE) == [
        "--from=build /opt/venv /opt/venv",
        "--from=build /app /app",
    ]


def test_the_final_stage_runs_as_a_numeric_non_root_user():
    final = stages()[-1]
    (user,) = re.findall(r"^USER (\S+)$", final, re.MULTILINE)
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) >= 10000


def test_static_files_are_collected_at_build_time_with_a_throwaway_key():
    build = stages()[0]
    assert "pip install -r /tmp/requirements.txt" in build
    collect = re.search(r"^RUN (.*collectstatic --no-input.*)$", build, re.MULTILINE)
    assert collect, "collectstatic must run in the build stage"
    assert "SECRET_KEY=" in collect.group(1) and "STATIC_ROOT=/app/staticfiles" in collect.group(1)
    assert "WORKDIR /app" in build


@pytest.mark.parametrize("variable", ["PEARDECK_VERSION", "PEARDECK_COMMIT"])
def test_the_version_and_commit_are_baked_into_the_image(variable):
    final = stages()[-1]
    assert re.search(rf"^ARG {variable}=", final, re.MULTILINE)
    assert f"{variable}=${variable}" in final


def test_the_image_starts_gunicorn_on_port_8000_as_the_app_contract_says():
    final = stages()[-1]
    assert 'CMD ["gunicorn", "-c", "gunicorn.conf.py", "peardeck.asgi:application"]' in final
    assert "PEARDECK_BIND=0.0.0.0:8000" in final
    assert "PEARDECK_METRICS_BIND=0.0.0.0:9100" in final
    assert re.search(r"^EXPOSE 8000 9100$", final, re.MULTILINE)


def test_the_build_context_leaves_out_git_virtualenvs_and_local_state():
    ignored = set((REPO / ".dockerignore").read_text().split())
    assert {".git", ".venv", ".venv-tools", "/var", "/staticfiles", "/db.sqlite3", ".env"} <= ignored
