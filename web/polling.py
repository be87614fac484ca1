"""Conditional GETs, so a client polling for state pays almost nothing when nothing changed."""

from django.http import HttpResponse


def conditional(
    request,
    response,
    etag: str,
    *,
    since: int | None = None,
    seq: int | None = None,
    answers_since: int | None = None,
    answers_seq: int | None = None,
):
    """For polling clients: a 304 with no body when the client already holds this version.

    `etag` must change whenever the document would; `since` is the `seq` the client holds and,
    for documents that show answers (pass their `answers_seq`), `answers_since` the answers
    version it holds: both must match, since answers do not bump `seq`.
    Returns the 304 to send, or None after putting the ETag on the normal response.
    """
    quoted = f'"{etag}"'
    held = [tag.strip().removeprefix("W/") for tag in request.headers.get("If-None-Match", "").split(",")]
    same_seq = since is not None and seq is not None and since == seq
    same_answers = answers_seq is None or answers_since == answers_seq
    if quoted in held or (same_seq and same_answers):
        not_modified = HttpResponse(status=304)
        not_modified["ETag"] = quoted
        return not_modified
    response["ETag"] = quoted
    return None
