"""Password sign-in stays for the embedded default and can be switched off (PASSWORD_SIGN_IN)."""

import pytest
from django.contrib.auth import get_user_model
from prometheus_client import REGISTRY

from tests.conftest import Api, error_of


def disabled_count() -> float:
    labels = {"provider": "password", "outcome": "disabled"}
    return REGISTRY.get_sample_value("peardeck_teacher_sign_ins_total", labels) or 0.0


@pytest.fixture
def passwords_off(settings):
    settings.PASSWORD_SIGN_IN = False


def test_password_sign_in_is_on_by_default_and_counted(teacher, client):
    labels = {"provider": "password", "outcome": "signed_in"}
    before = REGISTRY.get_sample_value("peardeck_teacher_sign_ins_total", labels) or 0.0
    page = client.get("/accounts/login/")
    assert b'name="password"' in page.content
    client.post("/accounts/login/", {"username": "ms-frizzle", "password": "magic-school-bus-42"})
    assert REGISTRY.get_sample_value("peardeck_teacher_sign_ins_total", labels) == before + 1


def test_with_passwords_off_the_login_page_has_no_password_form_and_refuses_one(
    teacher, client, passwords_off, google_provider
):
    page = client.get("/accounts/login/")
    assert b'name="password"' not in page.content
    assert b"Sign in with Google" in page.content
    before = disabled_count()

    refused = client.post("/accounts/login/", {"username": "ms-frizzle", "password": "magic-school-bus-42"})

    assert refused.status_code == 403
    assert b"switched off" in refused.content
    assert "_auth_user_id" not in client.session
    assert disabled_count() == before + 1


def test_with_passwords_off_and_no_provider_the_login_page_says_so(client, passwords_off, settings, db):
    settings.OIDC_PROVIDERS = {}
    assert b"No way to sign in is set up" in client.get("/accounts/login/").content


def test_with_passwords_off_the_api_makes_no_account_and_grants_no_token(teacher, passwords_off):
    users = get_user_model().objects.count()

    signup = Api().post("/api/auth/signup", {"username": "valerie", "password": "frizzle-rocks-2024"})
    grant = Api().post("/api/auth/tokens", {"username": "ms-frizzle", "password": "magic-school-bus-42"})

    assert signup.status_code == 403 and error_of(signup)["code"] == "password_sign_in_disabled"
    assert grant.status_code == 403 and error_of(grant)["code"] == "password_sign_in_disabled"
    assert get_user_model().objects.count() == users
