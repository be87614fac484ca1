import hashlib
import json
import time
import uuid
from pathlib import Path

import pytest
from django.core.cache import cache
from django.test import Client

from accounts.services import issue_api_token
from integrations import firebase
from tests.firebase_standin.fixtures import (  # noqa: F401 - fixtures used by name
    firebase_app,
    firebase_service_account,
    firebase_settings,
    firebase_standin,
)
from tests.oidc_provider.fixtures import google_provider, microsoft_provider  # noqa: F401 - fixtures used by name
from tests.support.classroom import make_deck, make_teacher, open_session
from tests.support.contract import in_process_contract


class Api:
    """The Django test client speaking JSON, with a bearer token. Every call asserts "no 500", and
    that the answer keeps the OpenAPI document's word: a status the operation declares and, for an
    error, a code that status lists (tests/support/contract.py)."""

    def __init__(self, token: str | None = None, client: Client | None = None):
        self.token = token
        self.client = client or Client()

    def _headers(self):
        return {"HTTP_AUTHORIZATION": f"Bearer {self.token}"} if self.token else {}

    def call(self, method: str, path: str, body=None, raw: str | bytes | None = None):
        handler = getattr(self.client, method.lower())
        if method == "GET":
            response = handler(path, **self._headers())
        else:
            # No body means an empty one, as curl -X POST sends, not Django's default multipart form.
            data = raw if raw is not None else (json.dumps(body) if body is not None else "")
            response = handler(path, data, content_type="application/json", **self._headers())
        assert response.status_code < 500, (
            f"{method} {path} answered {response.status_code}: {response.content[:500]!r}"
        )
        violations = in_process_contract().violations(
            method,
            path.split("?", 1)[0],
            response.status_code,
            response.get("Content-Type", ""),
            response.content,
        )
        assert not violations, violations
        return response

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.call("POST", path, body, **kw)

    def patch(self, path, body=None, **kw):
        return self.call("PATCH", path, body, **kw)

    def put(self, path, body=None, **kw):
        return self.call("PUT", path, body, **kw)

    def delete(self, path, **kw):
        return self.call("DELETE", path, **kw)


def error_of(response) -> dict:
    body = response.json()
    assert "error" in body, body
    return body["error"]


def new_submission_id() -> str:
    return uuid.uuid4().hex


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """A test database per checkout, so two suites on one PostgreSQL (two work trees, or a
    benchmark beside the tests) never drop each other's database."""
    from django.conf import settings

    checkout = hashlib.sha1(str(Path(__file__).resolve().parent).encode()).hexdigest()[:8]
    for database in settings.DATABASES.values():
        if "postgresql" in database["ENGINE"]:
            database.setdefault("TEST", {})["NAME"] = f"test_peardeck_{checkout}"


@pytest.fixture(autouse=True)
def _still_rate_window(monkeypatch):
    # Rate limits count in fixed windows; a test must not straddle a window boundary and see its
    # count reset halfway.
    import web.ratelimit

    frozen = time.time()
    monkeypatch.setattr(web.ratelimit, "_now", lambda: frozen)


@pytest.fixture(autouse=True)
def _static_files_without_a_manifest(settings):
    # Pages rendered in-process must not need `collectstatic` first; live servers do run it.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _fresh_cache():
    # Rate-limit counters live in the cache; one test's attempts must not count against another's.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _fresh_live_state():
    # The per-process cache of live state (sessions/live_state.py) must not carry one test's
    # sessions into the next: a rolled-back test's ids are handed out again on SQLite.
    from sessions import live_state

    live_state.clear()
    yield
    live_state.clear()


@pytest.fixture(autouse=True)
def _background_work_ends_with_its_test():
    # Dashboard updates are built on threads of their own a moment after the answers; one still
    # running would read (and, on SQLite's shared in-memory test database, lock) the next test's tables.
    yield
    from runtime import broadcast, threads

    broadcast.quiesce()
    threads.finish_work()


@pytest.fixture(autouse=True)
def _fresh_student_budgets():
    # Each student's request budget is kept in the process; one test's students are not another's.
    from sessions.auth import STUDENT_REQUESTS

    STUDENT_REQUESTS.clear()


@pytest.fixture(autouse=True)
def _no_firebase_app_between_tests():
    # integrations.firebase keeps its app; a test that switched Firebase on must not lend it to the next.
    yield
    firebase.reset()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2's deliberate slowness protects stored passwords, and costs tests seconds each.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def teacher(db):
    return make_teacher("ms-frizzle", "magic-school-bus-42")


@pytest.fixture
def other_teacher(db):
    return make_teacher("mr-ratburn", "arthur-and-friends-42")


@pytest.fixture
def teacher_api(teacher):
    _token, plaintext = issue_api_token(user=teacher, name="tests")
    return Api(plaintext)


@pytest.fixture
def other_teacher_api(other_teacher):
    _token, plaintext = issue_api_token(user=other_teacher, name="tests")
    return Api(plaintext)


@pytest.fixture
def deck(teacher):
    return make_deck(teacher)


@pytest.fixture
def questions(deck):
    return {question.kind: question for question in deck.questions.all()}


@pytest.fixture
def live_session(teacher, deck):
    return open_session(teacher, deck)[0]


def join(session, name: str) -> Api:
    """A student joined over the in-process API: their Api, speaking with their token."""
    response = Api().post("/api/join", {"join_code": session.join_code, "display_name": name})
    assert response.status_code == 201, response.content
    return Api(response.json()["token"])


@pytest.fixture
def students(live_session):
    return [join(live_session, name) for name in ("Arnold", "Wanda", "Carlos")]
