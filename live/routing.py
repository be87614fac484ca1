from django.urls import re_path

from live.consumers import SessionConsumer

websocket_urlpatterns = [
    re_path(r"^ws/sessions/(?P<join_code>[A-Za-z0-9]{6})/(?P<role>[a-z]+)/$", SessionConsumer.as_asgi()),
]
