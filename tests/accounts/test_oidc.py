"""Teachers sign in with their school's Google or Microsoft account, through the Django test client
and the stand-in provider (tests/oidc_provider) over real HTTP: discovery, keys, the sign-in form
and the token endpoint. Every refusal is checked to make no account and sign nobody in."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from prometheus_client import REGISTRY

from accounts.models import ProviderIdentity
from accounts.services import allow_school, disallow
from tests.support.classroom import PASSWORD, make_teacher

User = get_user_model()
TENANT = "7d1f0a52-3c4b-4e8e-9a41-5b2f6c0d9e11"
OTHER_TENANT = "0b8e6f2d-91a7-4c35-8d0e-2f4a6b1c3d57"


@pytest.fixture
def springfield(db):
    return allow_school(name="Springfield Elementary", domains=["springfield.example", "sps.example"])


def sign_ins(provider: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "peardeck_teacher_sign_ins_total", {"provider": provider, "outcome": outcome}
    )
    return value or 0.0


def start(client: Client, provider: str = "google", **form) -> str:
    response = client.post(f"/accounts/oidc/{provider}/start/", form)
    assert response.status_code == 302, response.content
    return response["Location"]


def come_back(client: Client, url: str):
    parts = urlsplit(url)
    assert parts.netloc == "testserver", url
    return client.get(f"{parts.path}?{parts.query}")


def sign_in(client: Client, standin, email: str, provider: str = "google", **form):
    return come_back(client, standin.sign_in(start(client, provider, **form), email))


def signed_in_user_id(client: Client):
    user_id = client.session.get("_auth_user_id")
    return int(user_id) if user_id else None


def assert_nothing_made(client: Client, users_before: int):
    assert User.objects.count() == users_before
    assert not ProviderIdentity.objects.exists()
    assert signed_in_user_id(client) is None
    assert client.get("/teach/").status_code == 302


# --- the happy paths ------------------------------------------------------------------------------


def test_a_teacher_of_an_allowed_school_signs_in_with_google_and_lands_on_their_decks(
    client, google_provider, springfield
):
    google_provider.add_user("Edna.Krabappel@springfield.example", given_name="Edna", family_name="Krabappel")
    created_before = sign_ins("google", "created")

    authorization_url = start(client)
    query = parse_qs(urlsplit(authorization_url).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert query["state"][0] and query["nonce"][0]
    assert "openid" in query["scope"][0].split()
    landed = come_back(
        client, google_provider.sign_in(authorization_url, "Edna.Krabappel@springfield.example")
    )

    assert landed.status_code == 302 and landed["Location"] == "/teach/"
    teacher = User.objects.get(pk=signed_in_user_id(client))
    assert (teacher.email, teacher.first_name, teacher.last_name) == (
        "edna.krabappel@springfield.example",
        "Edna",
        "Krabappel",
    )
    assert not teacher.has_usable_password()
    identity = ProviderIdentity.objects.get()
    assert (identity.provider, identity.user, identity.school) == ("google", teacher, springfield)
    assert identity.subject == google_provider.users["Edna.Krabappel@springfield.example"].sub
    # The code went back with the PKCE verifier (the stand-in refuses it otherwise).
    (exchange,) = google_provider.token_requests
    assert exchange["code_verifier"][0]
    assert exchange["client_secret"] == [google_provider.client_secret]
    decks = client.get("/teach/")
    assert decks.status_code == 200
    assert sign_ins("google", "created") == created_before + 1


def test_a_later_sign_in_finds_the_teacher_by_subject_even_after_their_address_changed(
    google_provider, springfield
):
    person = google_provider.add_user("seymour@springfield.example")
    first = Client()
    sign_in(first, google_provider, "seymour@springfield.example")
    teacher_id = signed_in_user_id(first)
    signed_in_before = sign_ins("google", "signed_in")

    # The school renames the account; Google's subject stays.
    google_provider.users["skinner@sps.example"] = person
    person.email = "skinner@sps.example"
    person.claims["hd"] = "sps.example"
    again = Client()
    assert sign_in(again, google_provider, "skinner@sps.example").status_code == 302

    assert signed_in_user_id(again) == teacher_id
    assert User.objects.count() == 1
    assert ProviderIdentity.objects.get().email == "skinner@sps.example"
    assert sign_ins("google", "signed_in") == signed_in_before + 1


def test_an_existing_address_does_not_hand_over_its_account_to_a_new_subject(
    client, google_provider, springfield
):
    password_teacher = make_teacher("edna", email="edna@springfield.example")
    google_provider.add_user("edna@springfield.example")

    sign_in(client, google_provider, "edna@springfield.example")

    assert signed_in_user_id(client) != password_teacher.pk
    assert ProviderIdentity.objects.get().user_id == signed_in_user_id(client)


def test_a_teacher_with_a_password_links_google_and_then_signs_in_with_it(
    client, google_provider, springfield
):
    teacher = make_teacher("edna")
    google_provider.add_user("edna@springfield.example")
    assert client.login(username="edna", password=PASSWORD)
    linked_before = sign_ins("google", "linked")

    linked = sign_in(client, google_provider, "edna@springfield.example", purpose="link")

    assert linked.status_code == 302 and linked["Location"] == "/accounts/connections/"
    assert ProviderIdentity.objects.get().user == teacher
    page = client.get("/accounts/connections/")
    assert b"edna@springfield.example" in page.content
    assert sign_ins("google", "linked") == linked_before + 1
    fresh = Client()
    sign_in(fresh, google_provider, "edna@springfield.example")
    assert signed_in_user_id(fresh) == teacher.pk
    assert User.objects.count() == 1


def test_an_account_linked_to_one_teacher_cannot_be_linked_to_another(client, google_provider, springfield):
    google_provider.add_user("edna@springfield.example")
    sign_in(Client(), google_provider, "edna@springfield.example")
    make_teacher("otto")
    assert client.login(username="otto", password=PASSWORD)

    refused = sign_in(client, google_provider, "edna@springfield.example", purpose="link")

    assert refused.status_code == 409
    assert b"already signs another peardeck teacher in" in refused.content
    assert ProviderIdentity.objects.get().user.username == "edna@springfield.example"


def test_the_last_way_to_sign_in_cannot_be_unlinked(client, google_provider, springfield):
    google_provider.add_user("edna@springfield.example")
    sign_in(client, google_provider, "edna@springfield.example")
    identity = ProviderIdentity.objects.get()

    refused = client.post(f"/accounts/connections/{identity.pk}/unlink/")

    assert refused.status_code == 409
    assert ProviderIdentity.objects.filter(pk=identity.pk).exists()


def test_a_teacher_with_a_password_can_unlink_a_provider(client, google_provider, springfield):
    make_teacher("edna")
    google_provider.add_user("edna@springfield.example")
    client.login(username="edna", password=PASSWORD)
    sign_in(client, google_provider, "edna@springfield.example", purpose="link")

    unlinked = client.post(f"/accounts/connections/{ProviderIdentity.objects.get().pk}/unlink/")

    assert unlinked.status_code == 302
    assert not ProviderIdentity.objects.exists()


def test_the_page_asked_for_before_signing_in_is_where_the_teacher_lands_but_only_on_this_site(
    google_provider, springfield
):
    google_provider.add_user("edna@springfield.example")
    inside = sign_in(Client(), google_provider, "edna@springfield.example", next="/teach/decks/7/")
    outside = sign_in(Client(), google_provider, "edna@springfield.example", next="https://evil.example/")
    assert inside["Location"] == "/teach/decks/7/"
    assert outside["Location"] == "/teach/"


def test_the_login_page_offers_the_configured_providers(client, google_provider):
    page = client.get("/accounts/login/")
    assert b"Sign in with Google" in page.content
    assert b"Sign in with Microsoft" not in page.content
    assert client.post("/accounts/oidc/microsoft/start/").status_code == 404


# --- who may teach ------------------------------------------------------------------------------


def test_a_teacher_from_a_school_not_on_the_list_gets_a_page_saying_why(client, google_provider, springfield):
    google_provider.add_user("nelson@shelbyville.example")
    users_before = User.objects.count()
    refused_before = sign_ins("google", "domain_not_allowed")

    refused = sign_in(client, google_provider, "nelson@shelbyville.example")

    assert refused.status_code == 403
    text = refused.content.decode()
    assert "shelbyville.example is not on the list of schools" in text
    assert "IT team" in text
    assert_nothing_made(client, users_before)
    assert sign_ins("google", "domain_not_allowed") == refused_before + 1


def test_a_personal_google_account_with_a_school_address_is_refused(client, google_provider, springfield):
    google_provider.add_user("bart@springfield.example").claims.pop("hd")

    refused = sign_in(client, google_provider, "bart@springfield.example")

    assert refused.status_code == 403
    assert b"personal Google account" in refused.content
    assert_nothing_made(client, 0)


def test_an_address_google_has_not_verified_is_refused(client, google_provider, springfield):
    google_provider.add_user("lisa@springfield.example", email_verified=False)

    refused = sign_in(client, google_provider, "lisa@springfield.example")

    assert refused.status_code == 403
    assert b"did not confirm that lisa@springfield.example is yours" in refused.content
    assert_nothing_made(client, 0)


def test_taking_a_school_off_the_list_stops_its_teachers_signing_in(google_provider, springfield):
    google_provider.add_user("edna@springfield.example")
    sign_in(Client(), google_provider, "edna@springfield.example")

    disallow(school_name="Springfield Elementary")
    later = Client()
    refused = sign_in(later, google_provider, "edna@springfield.example")

    assert refused.status_code == 403
    assert signed_in_user_id(later) is None


def test_a_switched_off_teacher_cannot_sign_in_with_their_provider(google_provider, springfield):
    google_provider.add_user("edna@springfield.example")
    sign_in(Client(), google_provider, "edna@springfield.example")
    User.objects.update(is_active=False)
    later = Client()

    refused = sign_in(later, google_provider, "edna@springfield.example")

    assert refused.status_code == 403
    assert signed_in_user_id(later) is None


# --- answers that cannot be trusted ---------------------------------------------------------------

FORGED_TOKENS = {
    "a wrong nonce": {"nonce": "not-the-nonce-this-browser-sent"},
    "an expired token": {"exp": 1_000_000_000, "iat": 999_990_000},
    "a token signed with a key the provider never published": {"_sign_with": "unpublished"},
    "a token for another audience": {"aud": "someone-elses-client-id"},
    "a token for another audience naming us its authorized party": {
        "aud": "someone-elses-client-id",
        "azp": "peardeck-google-client",
    },
    "a token from another issuer": {"iss": "https://impostor.example"},
    "a token MACed with our own client secret": {"_alg": "HS256"},
    "a token without a nonce": {"nonce": None},
    "a token response without an ID token": {"_omit": True},
}


@pytest.mark.parametrize("tampering", FORGED_TOKENS.values(), ids=FORGED_TOKENS.keys())
def test_an_id_token_that_fails_a_check_is_refused_and_makes_no_account(
    client, google_provider, springfield, tampering
):
    google_provider.add_user("edna@springfield.example")
    refused_before = sign_ins("google", "invalid_token")
    google_provider.tamper_next_token(**tampering)

    refused = sign_in(client, google_provider, "edna@springfield.example")

    assert refused.status_code == 400
    assert b"could not verify Google" in refused.content
    assert_nothing_made(client, 0)
    assert sign_ins("google", "invalid_token") == refused_before + 1


def test_the_untampered_token_of_the_same_flow_is_accepted(client, google_provider, springfield):
    # The forged-token test's control: the same steps without tampering sign the teacher in.
    google_provider.add_user("edna@springfield.example")
    google_provider.tamper_next_token()
    assert sign_in(client, google_provider, "edna@springfield.example").status_code == 302
    assert signed_in_user_id(client) is not None


def test_a_tampered_state_is_refused_before_any_code_is_exchanged(client, google_provider, springfield):
    google_provider.add_user("edna@springfield.example")
    google_provider.tamper_next_redirect(state="forged-state-from-an-attacker")
    refused_before = sign_ins("google", "invalid_state")

    refused = sign_in(client, google_provider, "edna@springfield.example")

    assert refused.status_code == 400
    assert b"was not started from this browser" in refused.content
    assert google_provider.token_requests == []
    assert_nothing_made(client, 0)
    assert sign_ins("google", "invalid_state") == refused_before + 1


def test_a_callback_carried_to_another_browser_is_refused(google_provider, springfield):
    google_provider.add_user("edna@springfield.example")
    callback = google_provider.sign_in(start(Client()), "edna@springfield.example")
    victim = Client()

    refused = come_back(victim, callback)

    assert refused.status_code == 400
    assert_nothing_made(victim, 0)


def test_a_callback_used_twice_signs_in_once(client, google_provider, springfield):
    google_provider.add_user("edna@springfield.example")
    callback = google_provider.sign_in(start(client), "edna@springfield.example")
    assert come_back(client, callback).status_code == 302
    client.logout()

    replayed = come_back(client, callback)

    assert replayed.status_code == 400
    assert signed_in_user_id(client) is None


def test_cancelling_at_the_provider_changes_nothing(client, google_provider, springfield):
    authorization_url = start(client)
    google_provider.tamper_next_redirect(error="access_denied")
    google_provider.add_user("edna@springfield.example")

    refused = come_back(client, google_provider.sign_in(authorization_url, "edna@springfield.example"))

    assert refused.status_code == 400
    assert b"cancelled" in refused.content
    assert_nothing_made(client, 0)


def test_an_unreachable_provider_gets_a_page_not_an_error(client, settings, db):
    settings.OIDC_PROVIDERS = {
        "google": {
            "client_id": "x",
            "client_secret": "y",
            "discovery_url": "http://127.0.0.1:9/.well-known/openid-configuration",
        }
    }
    response = client.post("/accounts/oidc/google/start/")
    assert response.status_code == 502
    assert b"could not reach Google" in response.content


# --- Microsoft ----------------------------------------------------------------------------------


def test_a_microsoft_teacher_from_the_schools_own_tenant_signs_in(client, microsoft_provider, db):
    allow_school(name="Springfield Elementary", domains=["springfield.example"], tenant_ids=[TENANT])
    microsoft_provider.add_user("edna@springfield.example", tid=TENANT)

    landed = sign_in(client, microsoft_provider, "edna@springfield.example", provider="microsoft")

    assert landed.status_code == 302 and landed["Location"] == "/teach/"
    assert ProviderIdentity.objects.get().provider == "microsoft"


def test_a_microsoft_account_from_another_tenant_is_refused(client, microsoft_provider, db):
    allow_school(name="Springfield Elementary", domains=["springfield.example"], tenant_ids=[TENANT])
    microsoft_provider.add_user("edna@springfield.example", tid=OTHER_TENANT)

    refused = sign_in(client, microsoft_provider, "edna@springfield.example", provider="microsoft")

    assert refused.status_code == 403
    assert b"isn't the one registered for Springfield Elementary" in refused.content
    assert_nothing_made(client, 0)


def test_without_a_listed_tenant_microsoft_must_say_the_domain_owner_verified_the_address(
    microsoft_provider, db
):
    allow_school(name="Springfield Elementary", domains=["springfield.example"])
    microsoft_provider.add_user("edna@springfield.example", tid=TENANT)
    microsoft_provider.add_user("otto@springfield.example", tid=OTHER_TENANT, xms_edov=True)

    unverified = sign_in(Client(), microsoft_provider, "edna@springfield.example", provider="microsoft")
    verified = sign_in(Client(), microsoft_provider, "otto@springfield.example", provider="microsoft")

    assert unverified.status_code == 403
    assert verified.status_code == 302
    assert ProviderIdentity.objects.get().email == "otto@springfield.example"


def test_a_microsoft_token_whose_issuer_is_another_tenant_than_its_tid_is_refused(
    client, microsoft_provider, db
):
    allow_school(name="Springfield Elementary", domains=["springfield.example"], tenant_ids=[TENANT])
    microsoft_provider.add_user("edna@springfield.example", tid=TENANT)
    microsoft_provider.tamper_next_token(iss=f"{microsoft_provider.root}/{OTHER_TENANT}/v2.0")

    refused = sign_in(client, microsoft_provider, "edna@springfield.example", provider="microsoft")

    assert refused.status_code == 400
    assert_nothing_made(client, 0)


def test_a_microsoft_token_without_an_email_claim_uses_the_sign_in_name_of_the_schools_tenant(
    client, microsoft_provider, db
):
    allow_school(name="Springfield Elementary", domains=["springfield.example"], tenant_ids=[TENANT])
    microsoft_provider.add_user("edna@springfield.example", tid=TENANT)
    microsoft_provider.tamper_next_token(email=None, preferred_username="Edna@Springfield.example")

    landed = sign_in(client, microsoft_provider, "edna@springfield.example", provider="microsoft")

    assert landed.status_code == 302
    assert User.objects.get().email == "edna@springfield.example"
