from django.apps import AppConfig


class ClassroomSessionsConfig(AppConfig):
    # The label `sessions` belongs to django.contrib.sessions.
    name = "sessions"
    label = "classroom_sessions"
    verbose_name = "Decks and live sessions"
