"""Settings come from the environment; production settings pass Django's deployment checks."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_manage(args, env_overrides, tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env.update({"PEARDECK_VAR_DIR": str(tmp_path), **env_overrides})
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )


def production_env(tmp_path):
    secret = tmp_path / "secret_key"
    secret.write_text("k" * 30 + "-production-secret-from-a-file-" + "z" * 30 + "\n")
    return {
        "PEARDECK_HTTPS": "true",
        "SECRET_KEY_FILE": str(secret),
        "ALLOWED_HOSTS": "class.example.org",
        "DATABASE_URL": "postgres://peardeck@127.0.0.1:5432/peardeck",
    }


def test_production_settings_pass_the_deployment_checks(tmp_path):
    result = run_manage(["check", "--deploy", "--fail-level", "WARNING"], production_env(tmp_path), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_embedded_default_does_not_pass_them(tmp_path):
    result = run_manage(["check", "--deploy", "--fail-level", "WARNING"], {}, tmp_path)
    assert result.returncode != 0


def test_https_without_a_secret_key_refuses_to_start(tmp_path):
    env = production_env(tmp_path)
    del env["SECRET_KEY_FILE"]
    result = run_manage(["check"], env, tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_secrets_are_read_from_files_and_debug_is_off_by_default(tmp_path):
    script = (
        "from django.conf import settings; "
        "print(settings.SECRET_KEY[:5], settings.DEBUG, settings.DATABASES['default']['NAME'])"
    )
    result = run_manage(["shell", "-c", script], production_env(tmp_path), tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].split() == ["kkkkk", "False", "peardeck"]


def test_a_bad_boolean_is_a_clear_configuration_error(tmp_path):
    result = run_manage(["check"], {"DEBUG": "maybe"}, tmp_path)
    assert result.returncode != 0
    assert "DEBUG must be one of" in result.stderr


def test_health_endpoints_answer_whatever_the_host_header(client, db):
    # The kubelet probes with the pod IP as Host, which is never in ALLOWED_HOSTS.
    for path in ("/healthz", "/readyz"):
        response = client.get(path, HTTP_HOST="10.8.3.17:8000")
        assert response.status_code == 200, path
        assert response.json()["status"] == "ok"
    assert client.get("/api/decks", HTTP_HOST="10.8.3.17:8000").status_code == 400


def test_an_oidc_provider_is_on_when_its_client_id_is_set_and_its_secret_comes_from_a_file(tmp_path):
    secret = tmp_path / "google-client-secret"
    secret.write_text("from-a-mounted-secret\n")
    env = {"OIDC_GOOGLE_CLIENT_ID": "1234.apps.example", "OIDC_GOOGLE_CLIENT_SECRET_FILE": str(secret)}
    script = (
        "from django.conf import settings; p = settings.OIDC_PROVIDERS; g = p['google']; "
        "print(sorted(p), g['client_secret'], g['discovery_url'], settings.PASSWORD_SIGN_IN)"
    )
    result = run_manage(["shell", "-c", script], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].split() == [
        "['google']",
        "from-a-mounted-secret",
        "https://accounts.google.com/.well-known/openid-configuration",
        "True",
    ]


def test_a_client_id_without_its_secret_refuses_to_start(tmp_path):
    result = run_manage(["check"], {"OIDC_MICROSOFT_CLIENT_ID": "5678"}, tmp_path)
    assert result.returncode != 0
    assert "OIDC_MICROSOFT_CLIENT_SECRET" in result.stderr


def test_password_sign_in_can_be_switched_off(tmp_path):
    script = "from django.conf import settings; print(settings.PASSWORD_SIGN_IN, settings.OIDC_PROVIDERS)"
    result = run_manage(["shell", "-c", script], {"PASSWORD_SIGN_IN": "false"}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False {}"


def test_switching_passwords_off_without_a_provider_is_warned_about(tmp_path):
    result = run_manage(["check"], {"PASSWORD_SIGN_IN": "false"}, tmp_path)
    assert "accounts.W001" in result.stderr + result.stdout
    quiet = run_manage(["check"], {}, tmp_path)
    assert "accounts.W001" not in quiet.stderr + quiet.stdout
