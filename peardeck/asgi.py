"""The ASGI application gunicorn's uvicorn workers serve: HTTP through Django, WebSockets through
Channels."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peardeck.settings")

import django

django.setup()

from channels.routing import ProtocolTypeRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402

from peardeck.http_bridge import WsgiOverAsgi  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": WsgiOverAsgi(get_wsgi_application(), max_threads=settings.HTTP_THREADS),
    }
)
