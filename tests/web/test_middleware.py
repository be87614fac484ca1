"""Under /api/, every error is the API's JSON error body, including what Django and the framework
answer by themselves: a wrong method, an unknown path, the CSRF check, a bad Host, a crash
outside any endpoint."""

import json

from django.test import Client

from accounts.services import create_teacher
from tests.conftest import Api, error_of


def _error(response) -> dict:
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    body = json.loads(response.content)
    assert set(body["error"]) >= {"code", "message", "field"}
    return body["error"]


def test_a_method_a_path_does_not_take_is_a_json_405_naming_the_allowed_ones(teacher_api):
    refused = teacher_api.put("/api/decks", {"title": "x"})
    assert refused.status_code == 405
    assert error_of(refused)["code"] == "method_not_allowed"
    assert set(refused["Allow"].replace(" ", "").split(",")) == {"GET", "POST"}
    assert "GET" in error_of(refused)["message"]


def test_a_write_to_an_unknown_api_path_is_a_json_404_not_the_csrf_page(db):
    browser = Client(enforce_csrf_checks=True)
    for method in ("post", "put", "delete"):
        response = getattr(browser, method)("/api/no/such/thing", "{}", content_type="application/json")
        assert response.status_code == 404, (method, response.content[:200])
        assert _error(response)["code"] == "not_found"


def test_a_browser_login_writing_without_its_csrf_token_gets_a_json_403(db):
    create_teacher(username="lou", password="a-long-passphrase-1")
    browser = Client(enforce_csrf_checks=True)
    assert browser.login(username="lou", password="a-long-passphrase-1")
    refused = browser.post("/api/decks", json.dumps({"title": "No token"}), content_type="application/json")
    assert refused.status_code == 403
    assert _error(refused)["code"] == "csrf_failed"


def test_a_bad_host_under_the_api_is_a_json_400(db):
    refused = Client().get("/api/decks", HTTP_HOST="10.8.3.17:8000")
    assert refused.status_code == 400
    assert _error(refused)["code"] == "bad_request"


def test_a_crash_outside_any_endpoint_is_a_json_500_under_the_api(db, monkeypatch):
    from django.contrib.sessions.middleware import SessionMiddleware

    def crash(self, request):
        raise RuntimeError("a bug in a middleware")

    monkeypatch.setattr(SessionMiddleware, "process_request", crash)
    client = Client(raise_request_exception=False)
    response = client.get("/api/decks")
    assert response.status_code == 500
    assert _error(response) == {
        "code": "internal",
        "message": "Something failed on the server; it has been logged.",
        "field": None,
    }
    page = client.get("/accounts/login/")
    assert page.status_code == 500
    assert not page["Content-Type"].startswith("application/json")


def test_a_body_over_djangos_cap_is_a_413_with_a_message(teacher_api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    refused = teacher_api.post("/api/decks", raw=json.dumps({"title": "x" * 2000}))
    assert refused.status_code == 413
    error = error_of(refused)
    assert error["code"] == "payload_too_large"
    assert error["message"]


def test_an_error_without_a_field_says_so_with_null(teacher_api):
    missing = teacher_api.get("/api/no/such/endpoint")
    assert error_of(missing)["field"] is None
    assert "field" in Api().get("/api/decks").json()["error"]
