"""Whatever a client sends, the answer is a 4xx JSON error naming what was wrong, and nothing changes."""

import pytest

from responses.models import Response, Submission
from sessions.models import Deck, Question
from tests.conftest import Api, error_of


def snapshot():
    return (
        Deck.objects.count(),
        Question.objects.count(),
        Response.objects.count(),
        Submission.objects.count(),
    )


BAD_ANSWERS = [
    ({"question_id": "seven", "submission_id": "a", "answer": {"choices": [0]}}, "question_id"),
    ({"question_id": 999999, "submission_id": "a", "answer": {"choices": [0]}}, "question_id"),
    ({"submission_id": "a", "answer": {"choices": [0]}}, "question_id"),
    ({"question_id": None, "submission_id": "a", "answer": {"choices": [0]}}, "question_id"),
    ({"question_id": "Q", "submission_id": "", "answer": {"choices": [0]}}, "submission_id"),
    ({"question_id": "Q", "submission_id": "has space", "answer": {"choices": [0]}}, "submission_id"),
    ({"question_id": "Q", "submission_id": "x" * 65, "answer": {"choices": [0]}}, "submission_id"),
    ({"question_id": "Q", "submission_id": "a", "answer": "B"}, "answer"),
    ({"question_id": "Q", "submission_id": "a", "answer": {"choices": ["0"]}}, "answer.choices.0"),
    ({"question_id": "Q", "submission_id": "a", "answer": {"choices": [0], "extra": 1}}, "answer.extra"),
    ({"question_id": "Q", "submission_id": "a", "answer": {"text": "wrong kind"}}, "answer.choices"),
    ({"question_id": "Q", "submission_id": "a"}, "answer"),
]


@pytest.mark.parametrize(("body", "field"), BAD_ANSWERS)
def test_a_malformed_answer_is_refused_naming_the_field(live_session, questions, students, body, field):
    body = (
        {**body, "question_id": questions["multiple_choice"].pk} if body.get("question_id") == "Q" else body
    )
    before = snapshot()
    refused = students[0].post("/api/student/responses", body)
    assert 400 <= refused.status_code < 500
    assert error_of(refused)["field"] == field, error_of(refused)
    assert snapshot() == before


def test_oversized_text_and_drawings_are_refused(teacher_api, live_session, questions, students):
    for kind, answer in [
        ("text", {"text": "x" * 51}),
        ("drawing", {"strokes": [{"points": [[0.5, 0.5]] * 101}]}),
    ]:
        teacher_api.post(f"/api/sessions/{live_session.pk}/goto", {"question_id": questions[kind].pk})
        before = snapshot()
        refused = students[0].post(
            "/api/student/responses",
            {"question_id": questions[kind].pk, "submission_id": kind, "answer": answer},
        )
        assert refused.status_code == 422
        assert error_of(refused)["field"].startswith("answer.")
        assert snapshot() == before


def test_a_body_larger_than_the_server_accepts_is_refused_before_parsing(
    live_session, questions, students, settings
):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    huge = '{"question_id": 1, "submission_id": "a", "answer": {"text": "' + "x" * 20_000 + '"}}'
    refused = students[0].post("/api/student/responses", raw=huge)
    assert refused.status_code == 413
    assert error_of(refused)["code"] == "payload_too_large"


@pytest.mark.parametrize("raw", ["{", "not json", "[1, 2", '{"title": }', "\x00\x01"])
def test_malformed_json_is_a_400_naming_the_body(teacher_api, raw):
    before = snapshot()
    refused = teacher_api.post("/api/decks", raw=raw)
    assert refused.status_code == 400
    assert error_of(refused) == {
        "code": "malformed_json",
        "message": "The request body is not valid JSON.",
        "field": "body",
    }
    assert snapshot() == before


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/decks", {"title": ""}, "title"),
        ("/api/decks", {"title": "x" * 201}, "title"),
        ("/api/decks", {"title": 5}, "title"),
        # Not an object at all: the body itself is at fault.
        ("/api/decks", [], "body"),
        ("/api/sessions", {"deck_id": "one"}, "deck_id"),
        ("/api/sessions", {"deck_id": 424242}, "deck_id"),
        ("/api/sessions", {"deck_id": "DECK", "pacing": "chaos"}, "pacing"),
        (
            "/api/decks/DECK/questions",
            {"kind": "multiple_choice", "prompt": "?", "config": {"choices": ["a"]}},
            "config.choices",
        ),
        (
            "/api/decks/DECK/questions",
            {"kind": "number", "prompt": "?", "config": {"min": "low"}},
            "config.min",
        ),
        ("/api/decks/DECK/questions", {"kind": "text", "prompt": "", "config": {}}, "prompt"),
        (
            "/api/decks/DECK/questions",
            {"kind": "text", "prompt": "?", "image_url": "javascript:alert(1)"},
            "image_url",
        ),
        (
            "/api/decks/DECK/questions",
            {"kind": "drawing", "prompt": "?", "config": {"max_points": 10**9}},
            "config.max_points",
        ),
    ],
)
def test_bad_teacher_input_is_refused_naming_the_field(teacher_api, deck, path, body, field):
    path = path.replace("DECK", str(deck.pk))
    if isinstance(body, dict) and body.get("deck_id") == "DECK":
        body = {**body, "deck_id": deck.pk}
    before = snapshot()
    refused = teacher_api.post(path, body)
    assert 400 <= refused.status_code < 500, refused.content
    assert error_of(refused)["field"] == field, error_of(refused)
    assert snapshot() == before


def test_unknown_ids_and_paths_are_json_404s(teacher_api, live_session):
    for path in ["/api/decks/999999", "/api/sessions/999999", "/api/no/such/endpoint"]:
        response = teacher_api.get(path)
        assert response.status_code == 404, path
        assert error_of(response)["code"].endswith("not_found")
    not_a_number = teacher_api.get("/api/decks/abc")
    assert not_a_number.status_code == 422
    assert error_of(not_a_number)["field"] == "deck_id"


def test_a_wrong_method_is_not_a_server_error(teacher_api):
    assert teacher_api.call("PATCH", "/api/join", {}).status_code == 405


def test_a_nul_character_anywhere_in_a_body_is_refused_naming_the_field(
    teacher_api, deck, questions, students
):
    # PostgreSQL stores no NUL in text or jsonb: this was a 500 there.
    for api, path, body, field in [
        (teacher_api, "/api/decks", {"title": "Fractions\u0000"}, "title"),
        (teacher_api, f"/api/decks/{deck.pk}/questions", {"kind": "text", "prompt": "Say\u0000"}, "prompt"),
        (
            teacher_api,
            f"/api/decks/{deck.pk}/questions",
            {"kind": "multiple_choice", "prompt": "?", "config": {"choices": ["a", "b\u0000"]}},
            "config.choices.1",
        ),
        (
            students[0],
            "/api/student/responses",
            {"question_id": questions["text"].pk, "submission_id": "nul-1", "answer": {"te\u0000xt": "hi"}},
            "answer.te\u0000xt",
        ),
    ]:
        refused = api.post(path, body)
        assert refused.status_code == 422, (path, refused.content)
        assert error_of(refused)["code"] == "invalid"
        assert error_of(refused)["field"] == field
    refused = Api().post("/api/join", {"join_code": "ABC\u0000", "display_name": "Nul"})
    assert refused.status_code == 422
