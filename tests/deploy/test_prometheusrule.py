"""The PrometheusRule deployed with peardeck holds exactly the rules promtool tests, no more, no less."""

import importlib.machinery
import importlib.util
import subprocess
import sys

import pytest
import yaml

from tests.deploy.conftest import DEPLOY, OVERLAYS, find

RENDERER = DEPLOY / "monitoring" / "render-prometheusrule"
RULES_FILE = DEPLOY / "monitoring" / "rules" / "peardeck.rules.yml"
GENERATED = DEPLOY / "base" / "monitoring" / "prometheusrule.yaml"


def load_renderer():
    loader = importlib.machinery.SourceFileLoader("render_prometheusrule", str(RENDERER))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def plain_groups():
    return yaml.safe_load(RULES_FILE.read_text())["groups"]


def test_the_committed_prometheusrule_is_up_to_date_with_the_rules_file():
    result = subprocess.run(
        [sys.executable, str(RENDERER), "--check"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_the_freshness_check_fails_once_the_rules_file_changes(tmp_path, monkeypatch):
    renderer = load_renderer()
    changed = RULES_FILE.read_text().replace("for: 5m", "for: 6m")
    assert changed != RULES_FILE.read_text()
    assert renderer.render(changed) != GENERATED.read_text()
    monkeypatch.setattr(renderer, "OUTPUT_FILE", tmp_path / "prometheusrule.yaml")
    (tmp_path / "prometheusrule.yaml").write_text(renderer.render(changed))
    monkeypatch.setattr(sys, "argv", ["render-prometheusrule", "--check"])
    assert renderer.main() == 1


def test_the_renderer_refuses_a_rules_file_that_is_not_a_list_of_groups():
    renderer = load_renderer()
    with pytest.raises(ValueError, match="groups"):
        renderer.render("rules: []\n")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_rendered_prometheusrule_holds_exactly_the_groups_of_the_plain_rules_file(rendered, overlay):
    rule = find(rendered[overlay], "PrometheusRule", "peardeck")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["spec"]["groups"] == plain_groups()
    for group in rule["spec"]["groups"]:
        assert group["name"] and group["rules"]
        for each in group["rules"]:
            assert ("alert" in each) != ("record" in each) and each["expr"]
