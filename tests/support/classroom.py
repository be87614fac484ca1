"""The one test world: teachers, decks with questions of every kind, live classes and their students.

Two ways in, with the same defaults:
- in process, through the services (pytest-django tests): make_teacher, make_deck, open_session,
  join_students;
- over HTTP against a running server (tests/support/server.py), the way a client does it, for the
  tests that cross a real socket and for the benchmarks: sign_up_teacher and open_class, or their
  async forms for a benchmark that opens many classes at once.

The HTTP steps are written once, as a generator of requests (_class_steps), and driven either by
an httpx.Client or an httpx.AsyncClient.
"""

from __future__ import annotations

import uuid
from collections.abc import Generator, Iterable
from dataclasses import dataclass, field

import httpx

PASSWORD = "chalk-and-talk-2024"

ALL_KIND_QUESTIONS = [
    {
        "kind": "multiple_choice",
        "prompt": "Pick the prime",
        "config": {"choices": ["4", "7", "9"], "correct": [1]},
    },
    {"kind": "text", "prompt": "Say something", "config": {"max_length": 50}},
    {"kind": "number", "prompt": "How many?", "config": {"min": 0, "max": 100}},
    {"kind": "draggable", "prompt": "Where is it?", "image_url": "https://example.org/map.png", "config": {}},
    {"kind": "drawing", "prompt": "Draw it", "config": {"max_points": 100, "max_bytes": 4096}},
    {"kind": "slide", "prompt": "Thanks!", "config": {"body": "See you"}},
]

# An answer each answerable kind of ALL_KIND_QUESTIONS accepts.
GOOD_ANSWERS = {
    "multiple_choice": {"choices": [1]},
    "text": {"text": "hello"},
    "number": {"value": 42},
    "draggable": {"x": 0.25, "y": 0.75},
    "drawing": {"strokes": [{"points": [[0.1, 0.1], [0.2, 0.3]], "color": "#ff0000", "width": 4}]},
}

CHOICES = ["a", "b", "c", "d"]
ONE_CHOICE_QUESTION = [{"kind": "multiple_choice", "prompt": "?", "config": {"choices": CHOICES}}]


def text_questions(*prompts: str) -> list[dict]:
    return [{"kind": "text", "prompt": prompt} for prompt in prompts]


def number_questions(*prompts: str, **config) -> list[dict]:
    return [{"kind": "number", "prompt": prompt, "config": dict(config)} for prompt in prompts]


# --- in process, through the services -------------------------------------------------------------
# These import the apps when called: the benchmarks use this module without Django set up.


def make_teacher(username: str | None = None, password: str = PASSWORD, email: str = ""):
    from accounts.services import create_teacher

    return create_teacher(
        username=username or f"teacher-{uuid.uuid4().hex[:8]}", password=password, email=email
    )


def make_deck(teacher, *, title: str = "Every kind", questions: Iterable[dict] = ALL_KIND_QUESTIONS):
    from sessions import services

    deck = services.create_deck(owner=teacher, title=title)
    for question in questions:
        services.add_question(deck=deck, **question)
    return deck


def open_session(teacher, deck, *, pacing: str = "instructor", start: bool = True):
    """A session of `deck`, live unless `start` is False; returns it and its projector key."""
    from live import services

    session, projector_key = services.create_session(teacher=teacher, deck=deck, pacing=pacing)
    if start:
        session = services.start_session(session=session)
    return session, projector_key


def join_students(session, names: Iterable[str]) -> list[tuple]:
    """Each name joined to the session: [(student, token), ...]."""
    from live import services

    return [services.join_session(join_code=session.join_code, display_name=name) for name in names]


# --- over HTTP, against a running server ----------------------------------------------------------


@dataclass
class Teacher:
    username: str
    password: str
    token: str

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}

    def client(self, base: str) -> httpx.Client:
        """An httpx client for `base`'s API speaking as this teacher."""
        return httpx.Client(base_url=f"{base}/api", headers=self.headers, timeout=30)


@dataclass
class LiveClass:
    teacher: Teacher
    deck: dict
    questions: list[dict]  # as the API returned them, in deck order
    session: dict  # as POST /api/sessions returned it (with the projector key)
    joined: dict[str, dict] = field(default_factory=dict)  # name -> POST /api/join's answer

    @property
    def session_id(self) -> int:
        return self.session["id"]

    @property
    def join_code(self) -> str:
        return self.session["join_code"]

    @property
    def tokens(self) -> list[str]:
        """The students' tokens, in the order they joined."""
        return [joined["token"] for joined in self.joined.values()]

    def token(self, name: str) -> str:
        return self.joined[name]["token"]


# One request: (method, API path, JSON body or None, headers, expected status).
_Request = tuple[str, str, dict | None, dict, int]


def _sign_up_steps(username: str | None, password: str) -> Generator[_Request, dict, Teacher]:
    username = username or f"teacher-{uuid.uuid4().hex[:8]}"
    signed_up = yield "POST", "/auth/signup", {"username": username, "password": password}, {}, 201
    return Teacher(username, password, signed_up["api_token"]["token"])


def _class_steps(
    teacher: Teacher,
    *,
    title: str = "Every kind",
    questions: Iterable[dict] = ALL_KIND_QUESTIONS,
    pacing: str = "instructor",
    students: Iterable[str] = (),
    start: bool = True,
) -> Generator[_Request, dict, LiveClass]:
    """A deck of `questions` and a session of it, live unless `start` is False, that `students`
    joined."""
    auth = teacher.headers
    deck = yield "POST", "/decks", {"title": title}, auth, 201
    made = []
    for question in questions:
        made.append((yield "POST", f"/decks/{deck['id']}/questions", question, auth, 201))
    session = yield "POST", "/sessions", {"deck_id": deck["id"], "pacing": pacing}, auth, 201
    if start:
        yield "POST", f"/sessions/{session['id']}/start", None, auth, 200
    live = LiveClass(teacher, deck, made, session)
    for name in students:
        live.joined[name] = yield (
            "POST",
            "/join",
            {"join_code": session["join_code"], "display_name": name},
            {},
            201,
        )
    return live


def _answer(response: httpx.Response, status: int) -> dict:
    if response.status_code != status:
        raise AssertionError(
            f"{response.request.method} {response.request.url}: {response.status_code} {response.text}"
        )
    return response.json() if response.content else {}


def _drive(http: httpx.Client, steps: Generator):
    try:
        method, path, body, headers, status = next(steps)
        while True:
            response = http.request(method, path, json=body, headers=headers)
            method, path, body, headers, status = steps.send(_answer(response, status))
    except StopIteration as done:
        return done.value


async def _drive_async(http: httpx.AsyncClient, steps: Generator):
    try:
        method, path, body, headers, status = next(steps)
        while True:
            response = await http.request(method, path, json=body, headers=headers)
            method, path, body, headers, status = steps.send(_answer(response, status))
    except StopIteration as done:
        return done.value


def api_client(base: str) -> httpx.Client:
    """An anonymous httpx client for `base`'s API (paths like "/join")."""
    return httpx.Client(base_url=f"{base}/api", timeout=30)


def sign_up_teacher(base: str, *, username: str | None = None, password: str = PASSWORD) -> Teacher:
    """A new teacher account on the server at `base`, through POST /api/auth/signup."""
    with api_client(base) as http:
        return _drive(http, _sign_up_steps(username, password))


def open_class(base: str, *, teacher: Teacher | None = None, **spec) -> LiveClass:
    """A teacher (a new one unless given) with a live class on the server at `base`, all through
    its API; `spec` as _class_steps takes it (title, questions, pacing, students, start)."""
    with api_client(base) as http:
        teacher = teacher or _drive(http, _sign_up_steps(None, PASSWORD))
        return _drive(http, _class_steps(teacher, **spec))


async def sign_up_teacher_async(
    http: httpx.AsyncClient, *, username: str | None = None, password: str = PASSWORD
) -> Teacher:
    """sign_up_teacher through `http`, whose base_url is the server's /api."""
    return await _drive_async(http, _sign_up_steps(username, password))


async def open_class_async(http: httpx.AsyncClient, *, teacher: Teacher, **spec) -> LiveClass:
    """open_class through `http`, whose base_url is the server's /api."""
    return await _drive_async(http, _class_steps(teacher, **spec))
