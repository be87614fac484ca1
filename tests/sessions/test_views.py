"""The page views: who may open which page, and what each page is handed."""

import io
import json

import pytest
from django.test import Client


@pytest.fixture
def teacher_browser(teacher):
    browser = Client()
    browser.force_login(teacher)
    return browser


def page_config(response) -> dict:
    html = response.content.decode()
    start = html.index('<script id="page-config" type="application/json">') + len(
        '<script id="page-config" type="application/json">'
    )
    return json.loads(html[start : html.index("</script>", start)])


@pytest.mark.django_db
def test_the_join_page_is_open_to_anyone_and_sets_the_csrf_cookie():
    response = Client().get("/")
    assert response.status_code == 200
    assert b'id="join-code"' in response.content
    assert "csrftoken" in response.cookies
    assert page_config(response)["app"] == "join"


@pytest.mark.django_db
def test_teacher_pages_send_a_stranger_to_the_login_page():
    for path in ("/teach/", "/teach/decks/1/", "/teach/sessions/1/"):
        response = Client().get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")


def test_a_teacher_sees_their_decks_page_with_a_csrf_cookie(teacher_browser):
    response = teacher_browser.get("/teach/")
    assert response.status_code == 200
    assert "csrftoken" in response.cookies


def test_the_deck_editor_and_dashboard_are_handed_their_ids(teacher_browser, live_session, deck):
    editor = teacher_browser.get(f"/teach/decks/{deck.pk}/")
    assert page_config(editor)["deck_id"] == deck.pk
    dashboard = teacher_browser.get(f"/teach/sessions/{live_session.pk}/")
    config = page_config(dashboard)
    assert config["session_id"] == live_session.pk
    assert config["join_code"] == live_session.join_code
    assert config["firebase"] is False


def test_another_teachers_deck_and_session_are_not_found(other_teacher, live_session, deck):
    stranger = Client()
    stranger.force_login(other_teacher)
    assert stranger.get(f"/teach/decks/{deck.pk}/").status_code == 404
    assert stranger.get(f"/teach/sessions/{live_session.pk}/").status_code == 404


@pytest.mark.django_db
def test_the_projector_page_carries_no_key_and_shows_the_code_in_capitals():
    response = Client().get("/projector/abcdef/")
    assert response.status_code == 200
    assert b"ABCDEF" in response.content
    assert b"pdp_" not in response.content


def test_a_teacher_logging_in_lands_on_their_decks(teacher):
    response = Client().post(
        "/accounts/login/", {"username": "ms-frizzle", "password": "magic-school-bus-42"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/teach/"


def test_the_api_accepts_a_logged_in_teacher_only_with_the_csrf_header(teacher, deck):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(teacher)
    token = browser.get("/teach/").cookies["csrftoken"].value
    refused = browser.post("/api/decks", json.dumps({"title": "No header"}), content_type="application/json")
    assert refused.status_code == 403
    created = browser.post(
        "/api/decks",
        json.dumps({"title": "With header"}),
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert created.status_code == 201


@pytest.mark.django_db
def test_the_join_qr_code_is_drawn_here_and_holds_the_join_link_with_the_code():
    import segno

    response = Client().get("/join-qr/abc-234.svg")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    # The same modules segno draws for the link a phone should open: this host, code filled in.
    expected = io.BytesIO()
    segno.make("http://testserver/?code=ABC234", error="m").save(
        expected, kind="svg", border=2, xmldecl=False, omitsize=True, title="QR code: join ABC234"
    )
    assert response.content == expected.getvalue()
    assert b"<svg" in response.content and b"http" not in response.content.split(b">", 1)[1]


@pytest.mark.django_db
def test_the_join_qr_code_refuses_what_cannot_be_a_join_code():
    assert Client().get("/join-qr/ABC10O.svg").status_code == 404
    assert Client().get("/join-qr/TOOLONGCODE.svg").status_code == 404


def test_another_teachers_deck_gets_a_page_that_says_what_happened(other_teacher, deck, settings):
    settings.DEBUG = False
    stranger = Client()
    stranger.force_login(other_teacher)
    response = stranger.get(f"/teach/decks/{deck.pk}/")
    assert response.status_code == 404
    assert b"We can't find that page" in response.content
    assert b"belongs to another teacher" in response.content
    assert b'href="/teach/"' in response.content
