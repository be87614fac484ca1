from tests.firebase_standin.fixtures import (  # noqa: F401 - fixtures used by name
    firebase_app,
    firebase_service_account,
    firebase_settings,
    firebase_standin,
)
from tests.support.browser import browser  # noqa: F401 - a fixture, used by name
