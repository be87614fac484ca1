"""Authoring over HTTP: decks and questions."""


def test_a_teacher_builds_a_deck_with_every_kind_through_the_api(teacher_api):
    deck = teacher_api.post("/api/decks", {"title": "Fractions"}).json()
    for kind, config in [
        ("multiple_choice", {"choices": ["a", "b"], "multiple": True, "correct": [0, 1]}),
        ("text", {"max_length": 100}),
        ("number", {"min": -5, "max": 5}),
        ("draggable", {}),
        ("drawing", {"max_points": 500}),
        ("slide", {"body": "Well done"}),
    ]:
        created = teacher_api.post(
            f"/api/decks/{deck['id']}/questions", {"kind": kind, "prompt": f"A {kind}", "config": config}
        )
        assert created.status_code == 201, created.content
    fetched = teacher_api.get(f"/api/decks/{deck['id']}").json()
    assert [q["kind"] for q in fetched["questions"]] == [
        "multiple_choice",
        "text",
        "number",
        "draggable",
        "drawing",
        "slide",
    ]
    assert [q["position"] for q in fetched["questions"]] == [0, 1, 2, 3, 4, 5]


def test_questions_can_be_edited_reordered_and_deleted(teacher_api, deck):
    ids = [q["id"] for q in teacher_api.get(f"/api/decks/{deck.pk}").json()["questions"]]
    edited = teacher_api.patch(
        f"/api/decks/{deck.pk}/questions/{ids[1]}", {"prompt": "Say more", "config": {"max_length": 80}}
    )
    assert edited.json()["prompt"] == "Say more"
    assert edited.json()["config"]["max_length"] == 80
    reordered = teacher_api.put(
        f"/api/decks/{deck.pk}/questions/order", {"question_ids": list(reversed(ids))}
    )
    assert [q["id"] for q in reordered.json()["questions"]] == list(reversed(ids))
    assert teacher_api.delete(f"/api/decks/{deck.pk}/questions/{ids[0]}").status_code == 204
    remaining = teacher_api.get(f"/api/decks/{deck.pk}").json()["questions"]
    assert [q["position"] for q in remaining] == list(range(len(ids) - 1))


def test_decks_come_a_page_at_a_time_most_recently_changed_first(teacher, teacher_api):
    from sessions import services

    decks = [services.create_deck(owner=teacher, title=f"Deck {n}") for n in range(5)]
    services.rename_deck(deck=decks[0], title="Deck 0, edited")
    first = teacher_api.get("/api/decks?limit=2").json()
    assert [deck["title"] for deck in first["items"]] == ["Deck 0, edited", "Deck 4"]
    rest = teacher_api.get(f"/api/decks?limit=10&cursor={first['next_cursor']}").json()
    assert [deck["title"] for deck in rest["items"]] == ["Deck 3", "Deck 2", "Deck 1"]
    assert rest["next_cursor"] is None
    assert all(deck["question_count"] == 0 for deck in rest["items"])


def test_a_question_of_no_known_kind_is_refused_naming_kind(teacher_api, deck):
    for body in [{"kind": "essay", "prompt": "Why?"}, {"prompt": "No kind at all"}]:
        refused = teacher_api.post(f"/api/decks/{deck.pk}/questions", body)
        assert refused.status_code == 422
        assert refused.json()["error"]["field"] == "kind"
