"""pytest fixtures for the Firebase stand-in; the top-level tests/conftest.py imports them.

from tests.firebase_standin.fixtures import (  # noqa: F401 - fixtures are used by name
    firebase_app,
    firebase_service_account,
    firebase_settings,
    firebase_standin,
)
"""

from __future__ import annotations

import functools
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import firebase_admin
import pytest
from firebase_admin import db

from .credentials import public_key_pem, service_account_info
from .server import StandIn

FIREBASE_TEST_NAMESPACE = "peardeck-test"
FIREBASE_TEST_SHARDS = (FIREBASE_TEST_NAMESPACE, "peardeck-test-2")
# Short, so that ListenerRegistration.close() (which only returns once the server writes
# something on the stream) is quick in tests; real Firebase sends one about every 30 s.
TEST_KEEPALIVE_SECONDS = 0.2


@functools.cache
def shared_service_account_info() -> dict[str, Any]:
    """One throwaway service account per test run: making an RSA key takes tens of
    milliseconds, too much to pay in every test that starts a stand-in."""
    return service_account_info(FIREBASE_TEST_NAMESPACE)


@pytest.fixture
def firebase_standin(monkeypatch: pytest.MonkeyPatch) -> Iterator[StandIn]:
    """A fresh stand-in on an ephemeral port, with FIREBASE_DATABASE_EMULATOR_HOST pointing at it.

    Its Auth endpoints accept only custom tokens signed with ``firebase_service_account``'s key.
    """
    standin = StandIn(
        keepalive_seconds=TEST_KEEPALIVE_SECONDS,
        project_id=FIREBASE_TEST_NAMESPACE,
        custom_token_keys=[public_key_pem(shared_service_account_info())],
    ).start()
    monkeypatch.setenv("FIREBASE_DATABASE_EMULATOR_HOST", standin.address)
    yield standin
    standin.stop()


@pytest.fixture
def firebase_app(firebase_standin: StandIn) -> Iterator[firebase_admin.App]:
    """A firebase-admin app (unique name, deleted afterwards) whose database is the stand-in,
    namespace ``peardeck-test``. No credential is needed: in emulator mode the SDK sends the
    emulator's ``Bearer owner``."""
    app = firebase_admin.initialize_app(
        options={"databaseURL": f"https://{FIREBASE_TEST_NAMESPACE}.firebaseio.com"},
        name=f"standin-{uuid.uuid4().hex}",
    )
    yield app
    firebase_admin.delete_app(app)


@pytest.fixture
def firebase_service_account(tmp_path: Path) -> Path:
    """A throwaway service-account JSON file (locally generated RSA key, one per test run) for
    FIREBASE_CREDENTIALS_FILE; it lets firebase-admin sign custom tokens offline, and
    ``firebase_standin`` trusts its key."""
    path = tmp_path / f"{FIREBASE_TEST_NAMESPACE}-service-account.json"
    path.write_text(json.dumps(shared_service_account_info(), indent=2))
    path.chmod(0o600)
    return path


@pytest.fixture
def firebase_settings(settings, firebase_standin: StandIn, firebase_service_account: Path):
    """Django settings switched to Firebase on, with two shards served by the stand-in.

    The settings module reads the environment once at import, so tests change ``settings``
    (pytest-django) rather than the environment; integrations/firebase.py must read these settings
    when it creates its firebase-admin app, not at import time.
    """
    settings.FIREBASE_DATABASE_URLS = [
        f"https://{namespace}.firebaseio.com" for namespace in FIREBASE_TEST_SHARDS
    ]
    settings.FIREBASE_DATABASE_EMULATOR_HOST = firebase_standin.address
    settings.FIREBASE_CREDENTIALS_FILE = str(firebase_service_account)
    return settings


class EventRecorder:
    """A db.Reference.listen() callback that keeps (event_type, path, data) and can wait."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, Any]] = []
        self._changed = threading.Condition()

    def __call__(self, event: db.Event) -> None:
        with self._changed:
            self.events.append((event.event_type, event.path, event.data))
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[list[tuple[str, str, Any]]], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self.events):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"events never matched; got {self.events!r}")
                self._changed.wait(remaining)

    def wait_for_count(self, count: int, timeout: float = 5.0) -> list[tuple[str, str, Any]]:
        self.wait_for(lambda events: len(events) >= count, timeout)
        return list(self.events)
