"""pytest fixtures: a stand-in provider per test, with Django's settings pointing at it.

from tests.oidc_provider.fixtures import google_provider, microsoft_provider  # noqa: F401
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from .provider import StandInProvider

TEST_SERVER_ROOT = "http://testserver"


def callback_url(root: str, name: str) -> str:
    return f"{root}/accounts/oidc/{name}/callback/"


def provider_settings(standin: StandInProvider) -> dict:
    return {
        "client_id": standin.client_id,
        "client_secret": standin.client_secret,
        "discovery_url": standin.discovery_url,
    }


def _configured(settings, flavour: str) -> Iterator[StandInProvider]:
    standin = StandInProvider(
        flavour, client_id=f"peardeck-{flavour}-client", client_secret=secrets.token_urlsafe(24)
    ).start()
    standin.redirect_uris.add(callback_url(TEST_SERVER_ROOT, flavour))
    settings.OIDC_PROVIDERS = {**settings.OIDC_PROVIDERS, flavour: provider_settings(standin)}
    try:
        yield standin
    finally:
        standin.stop()


@pytest.fixture
def google_provider(settings) -> Iterator[StandInProvider]:
    """Google's flavour, configured as this site's `google` provider for the Django test client."""
    yield from _configured(settings, "google")


@pytest.fixture
def microsoft_provider(settings) -> Iterator[StandInProvider]:
    yield from _configured(settings, "microsoft")
