"""The pages: thin views that hand each page the ids it starts from. The pages then talk to the
JSON API and the WebSocket through static/peardeck/client.js, the same way any client does."""

import io
import json

import segno
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils.safestring import mark_safe
from django.views.decorators.csrf import ensure_csrf_cookie

from domain.errors import DomainError
from integrations import firebase
from sessions import selectors
from sessions.joincodes import normalize_join_code

# What must not appear raw inside a <script> element's JSON.
_SCRIPT_ESCAPES = {ord("<"): "\\u003C", ord(">"): "\\u003E", ord("&"): "\\u0026"}


def _client_config(**page) -> dict:
    # Read by client.js: which optional transports this deployment offers.
    return {"firebase": firebase.is_enabled(), "firebase_first": settings.FIREBASE_FIRST, **page}


def _or_404(select, *args):
    try:
        return select(*args)
    except DomainError as missing:  # someone else's deck or session is simply not there
        raise Http404(missing.message) from None


@ensure_csrf_cookie
def join_page(request):
    """The join address the projector shows: a code and a name."""
    return render(request, "pages/join.html", {"config": _client_config(app="join")})


def student_page(request):
    """The student's app; the token lives in the tab's sessionStorage, set by the join page.

    With Firebase on, the page also gets the vendored Firebase SDK's module addresses and the
    import map that keeps the SDK's own imports on our server."""
    sdk = firebase.browser_sdk()
    context = {"config": _client_config(app="student", firebase_sdk=sdk and sdk["modules"])}
    if sdk:
        # Our own JSON of static addresses, with the characters that could end the element escaped.
        context["import_map"] = mark_safe(json.dumps(sdk["import_map"]).translate(_SCRIPT_ESCAPES))  # noqa: S308
    return render(request, "pages/student.html", context)


@login_required
@ensure_csrf_cookie
def decks_page(request):
    return render(request, "pages/decks.html", {"config": _client_config(app="decks")})


@login_required
@ensure_csrf_cookie
def deck_page(request, deck_id: int):
    deck = _or_404(selectors.deck_of, request.user, deck_id)
    return render(
        request, "pages/deck.html", {"deck": deck, "config": _client_config(app="deck", deck_id=deck.pk)}
    )


@login_required
@ensure_csrf_cookie
def dashboard_page(request, session_id: int):
    session = _or_404(selectors.session_of, request.user, session_id)
    config = _client_config(app="teacher", session_id=session.pk, join_code=session.join_code)
    return render(request, "pages/dashboard.html", {"session": session, "config": config})


def projector_page(request, join_code: str):
    """The key arrives in the URL fragment, which browsers never send, so it stays out of logs."""
    config = _client_config(app="projector", join_code=join_code.upper())
    return render(request, "pages/projector.html", {"join_code": join_code.upper(), "config": config})


def join_qr(request, join_code: str):
    """A QR code of the join link with the code filled in, drawn here so that no outside service
    learns which classes run. It says nothing of whether a session has that code, so it answers
    any well-formed code the same way and cannot be used to find open sessions."""
    code = normalize_join_code(join_code)
    if code is None:
        raise Http404("Not a join code.")
    link = request.build_absolute_uri(f"/?code={code}")
    buffer = io.BytesIO()
    # Medium error correction survives a projector's glare; no fixed size, so CSS scales it.
    segno.make(link, error="m").save(
        buffer, kind="svg", border=2, xmldecl=False, omitsize=True, title=f"QR code: join {code}"
    )
    response = HttpResponse(buffer.getvalue(), content_type="image/svg+xml")
    response["Cache-Control"] = "public, max-age=86400"
    return response
