"""Teachers sign in with their school's Google account in real Chromium, through the real redirects:
gunicorn serving peardeck as production does (password sign-in off, the client secret read from a
file) and the stand-in provider (tests/oidc_provider) on 127.0.0.1, the schools' list kept with
`manage.py schools`."""

import os
import secrets
import subprocess
import sys

import httpx
import pytest
from playwright.sync_api import expect
from prometheus_client.parser import text_string_to_metric_families

from tests.oidc_provider.fixtures import callback_url
from tests.oidc_provider.provider import StandInProvider
from tests.pages.conftest import page_errors, screenshot
from tests.support.server import ROOT, free_port, fresh_postgres_database, manage, running_server

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def provider():
    standin = StandInProvider("google", client_id="peardeck-pages", client_secret=secrets.token_urlsafe(24))
    standin.start()
    yield standin
    standin.stop()


@pytest.fixture(scope="module")
def site(tmp_path_factory, provider):
    """The server, and a way to run manage.py against its database."""
    tmp = tmp_path_factory.mktemp("oidc-pages")
    secret_file = tmp / "google-client-secret"
    secret_file.write_text(provider.client_secret + "\n")
    metrics_port = free_port()
    env = {
        "PEARDECK_VAR_DIR": str(tmp),
        "DEBUG": "false",
        "PASSWORD_SIGN_IN": "false",
        "OIDC_GOOGLE_CLIENT_ID": provider.client_id,
        "OIDC_GOOGLE_CLIENT_SECRET_FILE": str(secret_file),
        "OIDC_GOOGLE_DISCOVERY_URL": provider.discovery_url,
        "PEARDECK_METRICS_BIND": f"127.0.0.1:{metrics_port}",
    }
    if os.environ.get("DATABASE_URL"):
        env["DATABASE_URL"] = fresh_postgres_database(os.environ["DATABASE_URL"], "oidc_pages")
    else:
        env["SQLITE_PATH"] = str(tmp / "oidc.sqlite3")
    with running_server(env, log_path=tmp / "gunicorn.log") as base:
        provider.redirect_uris.add(callback_url(base, "google"))
        command_env = {
            **{k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}},
            **env,
        }
        command_env.pop("DJANGO_SETTINGS_MODULE", None)
        manage("schools", "allow", "Springfield", "--domain", "springfield.example", env=command_env)
        yield {"base": base, "env": command_env, "metrics": f"http://127.0.0.1:{metrics_port}/metrics"}


def counts(site) -> tuple[int, int]:
    """(teachers, provider identities) in the server's database."""
    code = (
        "from django.contrib.auth import get_user_model; from accounts.models import ProviderIdentity; "
        "print(get_user_model().objects.count(), ProviderIdentity.objects.count())"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=site["env"],
        capture_output=True,
        text=True,
        check=True,
    )
    teachers, identities = result.stdout.split()[-2:]
    return int(teachers), int(identities)


def sign_ins(site, outcome: str) -> float:
    for family in text_string_to_metric_families(httpx.get(site["metrics"]).text):
        for sample in family.samples:
            if sample.name == "peardeck_teacher_sign_ins_total" and sample.labels == {
                "provider": "google",
                "outcome": outcome,
            }:
                return sample.value
    return 0.0


def sign_in_at_the_provider(page, site, email: str):
    """From peardeck's login page through the provider's form; returns the response that brought
    the browser back to peardeck."""
    page.goto(f"{site['base']}/accounts/login/")
    expect(page.get_by_label("Password")).to_have_count(0)
    page.get_by_role("button", name="Sign in with Google").click()
    expect(page.get_by_role("heading", name="Sign in with your Google account")).to_be_visible()
    page.get_by_label("Email").fill(email)
    with page.expect_response(lambda r: "/accounts/oidc/google/callback/" in r.url) as returned:
        page.get_by_role("button", name="Continue").click()
    return returned.value


def test_a_teacher_of_an_allowed_school_signs_in_and_lands_on_their_decks(browser, site, provider):
    provider.add_user("edna@springfield.example", given_name="Edna", family_name="Krabappel")
    context = browser.new_context()
    page = context.new_page()
    errors = page_errors(page)

    sign_in_at_the_provider(page, site, "edna@springfield.example")

    page.wait_for_url(f"{site['base']}/teach/")
    expect(page.get_by_role("heading", name="Your decks")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out edna@springfield.example")).to_be_visible()
    page.get_by_label("New deck title").fill("Fractions")
    page.get_by_role("button", name="Create deck").click()
    page.wait_for_url("**/teach/decks/*/")
    context.close()

    # Another day, another browser: the same teacher, found by Google's subject, and their deck.
    again = browser.new_context()
    page = again.new_page()
    sign_in_at_the_provider(page, site, "edna@springfield.example")
    page.wait_for_url(f"{site['base']}/teach/")
    expect(page.locator("#deck-list")).to_contain_text("Fractions")
    screenshot(page, "teacher-signed-in-with-google")
    assert counts(site) == (1, 1)
    assert errors == []
    again.close()


def test_a_teacher_from_another_domain_is_refused_with_a_page_saying_why(browser, site, provider):
    provider.add_user("nelson@shelbyville.example")
    before = counts(site)
    refused_before = sign_ins(site, "domain_not_allowed")
    context = browser.new_context()
    page = context.new_page()

    returned = sign_in_at_the_provider(page, site, "nelson@shelbyville.example")

    assert returned.status == 403
    expect(page.get_by_role("heading", name="Your school isn't signed up yet")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("shelbyville.example is not on the list of schools")
    screenshot(page, "teacher-refused-school-not-listed")
    page.goto(f"{site['base']}/teach/")
    page.wait_for_url("**/accounts/login/?next=/teach/")
    assert counts(site) == before
    assert sign_ins(site, "domain_not_allowed") == refused_before + 1
    context.close()


def test_a_tampered_state_is_refused_in_the_browser_and_makes_no_account(browser, site, provider):
    provider.add_user("otto@springfield.example")
    before = counts(site)
    provider.tamper_next_redirect(state="a-state-this-browser-never-sent")
    context = browser.new_context()
    page = context.new_page()

    returned = sign_in_at_the_provider(page, site, "otto@springfield.example")

    assert returned.status == 400
    expect(page.get_by_role("alert")).to_contain_text("was not started from this browser")
    assert counts(site) == before
    context.close()
