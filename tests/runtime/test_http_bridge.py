"""The HTTP bridge refuses a body far past Django's cap before buffering it, with the API's error body."""

import json

from runtime.http_bridge import WsgiOverAsgi


async def test_a_body_far_over_the_cap_is_a_413_with_the_error_body(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    sent = []
    chunks = [{"type": "http.request", "body": b"x" * 2048, "more_body": True} for _ in range(3)]

    async def receive():
        return chunks.pop(0)

    async def send(message):
        sent.append(message)

    def never_called(environ, start_response):
        raise AssertionError("the request reached Django")

    scope = {"type": "http", "method": "POST", "path": "/api/decks", "headers": []}
    await WsgiOverAsgi(never_called)(scope, receive, send)
    assert sent[0]["status"] == 413
    error = json.loads(sent[1]["body"])["error"]
    assert error["code"] == "payload_too_large"
    assert error["message"]
    assert error["field"] == "body"
