"""The ASGI application gunicorn's uvicorn workers serve: plain HTTP through Django (see
runtime/http_bridge.py), WebSockets through Channels behind an Origin check against
ALLOWED_HOSTS, with the browser's login session available to teacher sockets."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peardeck.settings")

import django

django.setup()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402

from live.routing import websocket_urlpatterns  # noqa: E402
from runtime.broadcast import BindServerLoop  # noqa: E402
from runtime.http_bridge import WsgiOverAsgi  # noqa: E402

application = BindServerLoop(
    ProtocolTypeRouter(
        {
            "http": WsgiOverAsgi(get_wsgi_application()),
            "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
        }
    )
)
