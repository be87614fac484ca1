from django.apps import AppConfig


class LiveConfig(AppConfig):
    """The running class: its consumers, role documents, endpoints and services. No models: it
    runs on the sessions' and responses' tables."""

    name = "live"
