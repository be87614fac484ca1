"""Conditional GETs, so a client polling for state pays almost nothing when nothing changed."""

from django.http import HttpResponse


def conditional(request, response, etag: str, *, since: int | None = None, seq: int | None = None):
    """For polling clients: a 304 with no body when the client already holds this version.

    `etag` must change whenever the document would; `since` is the `seq` the client holds.
    Returns the 304 to send, or None after putting the ETag on the normal response.
    """
    quoted = f'"{etag}"'
    held = [tag.strip().removeprefix("W/") for tag in request.headers.get("If-None-Match", "").split(",")]
    if quoted in held or (since is not None and seq is not None and since == seq):
        not_modified = HttpResponse(status=304)
        not_modified["ETag"] = quoted
        return not_modified
    response["ETag"] = quoted
    return None
