import pytest

from domain.errors import DomainError
from sessions import kinds


def config(kind, **overrides):
    return kinds.clean_config(kind, overrides)


def refused(kind, cfg, answer) -> DomainError:
    with pytest.raises(DomainError) as caught:
        kinds.clean_answer(kind, cfg, answer)
    assert caught.value.code in {"invalid_answer", "not_answerable"}
    return caught.value


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"choices": ["only one"]}, "config.choices"),
        ({"choices": [str(n) for n in range(11)]}, "config.choices"),
        ({"choices": ["a", "b"], "correct": [2]}, "config"),
        ({"choices": ["a", "b"], "correct": [0, 1]}, "config"),
        ({"choices": ["a", "A "]}, "config"),
        ({"choices": ["a", ""]}, "config.choices.1"),
        ({"choices": ["a", "b"], "colour": "red"}, "config.colour"),
        ({"choices": "a,b"}, "config.choices"),
    ],
)
def test_a_multiple_choice_config_outside_the_rules_is_refused_naming_the_field(raw, field):
    with pytest.raises(DomainError) as caught:
        kinds.clean_config("multiple_choice", raw)
    assert caught.value.code == "invalid_question"
    assert caught.value.field == field


def test_number_bounds_must_be_in_order():
    with pytest.raises(DomainError):
        kinds.clean_config("number", {"min": 5, "max": 1})


def test_an_unknown_kind_is_refused():
    with pytest.raises(DomainError) as caught:
        kinds.clean_config("essay", {})
    assert caught.value.field == "kind"


def test_single_select_takes_exactly_one_valid_choice():
    cfg = config("multiple_choice", choices=["a", "b", "c"])
    assert kinds.clean_answer("multiple_choice", cfg, {"choices": [2]}) == {"choices": [2]}
    assert refused("multiple_choice", cfg, {"choices": [0, 1]}).field == "answer.choices"
    assert refused("multiple_choice", cfg, {"choices": [3]}).field == "answer.choices"
    assert refused("multiple_choice", cfg, {"choices": [True]}).field == "answer.choices.0"
    assert refused("multiple_choice", cfg, {"choices": []}).field == "answer.choices"


def test_multi_select_accepts_several_distinct_choices_and_sorts_them():
    cfg = config("multiple_choice", choices=["a", "b", "c"], multiple=True, correct=[0, 2])
    cleaned = kinds.clean_answer("multiple_choice", cfg, {"choices": [2, 0]})
    assert cleaned == {"choices": [0, 2]}
    assert kinds.is_correct("multiple_choice", cfg, cleaned) is True
    assert kinds.is_correct("multiple_choice", cfg, {"choices": [0]}) is False
    assert refused("multiple_choice", cfg, {"choices": [1, 1]}).field == "answer.choices"


def test_text_answers_are_trimmed_and_bounded_by_the_question():
    cfg = config("text", max_length=5)
    assert kinds.clean_answer("text", cfg, {"text": "  hi  "}) == {"text": "hi"}
    assert refused("text", cfg, {"text": "toolong"}).field == "answer.text"
    assert refused("text", cfg, {"text": "   "}).field == "answer.text"
    assert refused("text", cfg, {"text": 5}).field == "answer.text"


def test_numbers_must_be_finite_numbers_within_bounds():
    cfg = config("number", min=0, max=10)
    assert kinds.clean_answer("number", cfg, {"value": 10}) == {"value": 10.0}
    for bad in ({"value": "5"}, {"value": True}, {"value": float("inf")}, {"value": 11}, {"value": -1}, {}):
        assert refused("number", cfg, bad).field == "answer.value"


def test_a_draggable_point_lies_in_the_unit_square():
    cfg = config("draggable")
    assert kinds.clean_answer("draggable", cfg, {"x": 0, "y": 1}) == {"x": 0.0, "y": 1.0}
    assert refused("draggable", cfg, {"x": 1.01, "y": 0.5}).field == "answer.x"
    assert refused("draggable", cfg, {"x": 0.5, "y": -0.1}).field == "answer.y"


def test_a_drawing_is_capped_in_points_and_bytes():
    cfg = config("drawing", max_points=10, max_bytes=1024)
    small = {"strokes": [{"points": [[0.1, 0.2], [0.3, 0.4]]}]}
    assert kinds.clean_answer("drawing", cfg, small)["strokes"][0]["points"] == [[0.1, 0.2], [0.3, 0.4]]
    too_many = {"strokes": [{"points": [[0.1, 0.1]] * 11}]}
    assert "points" in refused("drawing", cfg, too_many).message
    too_big = {"strokes": [{"points": [[0.123456, 0.654321]] * 5, "color": "#abcdef"} for _ in range(20)]}
    cfg_big_points = config("drawing", max_points=1000, max_bytes=1024)
    assert "bytes" in refused("drawing", cfg_big_points, too_big).message
    assert refused("drawing", cfg, {"strokes": [{"points": [[0.1]]}]}).field.startswith(
        "answer.strokes.0.points"
    )
    assert (
        refused("drawing", cfg, {"strokes": [{"points": [[0.1, 0.1]], "color": "red"}]}).field
        == "answer.strokes.0.color"
    )


def test_a_slide_takes_no_answer():
    assert refused("slide", config("slide"), {"text": "hi"}).code == "not_answerable"


def test_the_public_config_never_shows_the_correct_choices():
    cfg = config("multiple_choice", choices=["a", "b"], correct=[1])
    assert "correct" not in kinds.public_config("multiple_choice", cfg)


def test_tallies_count_choices_and_summarise_numbers():
    cfg = config("multiple_choice", choices=["a", "b", "c"], multiple=True)
    tally = kinds.tally("multiple_choice", cfg, [{"choices": [0, 1]}, {"choices": [1]}])
    assert tally == {"answered": 2, "counts": [1, 2, 0]}
    numbers = kinds.tally("number", config("number"), [{"value": v} for v in (1, 2, 3, 10)])
    assert numbers["summary"]["median"] == 2.5
    assert sum(numbers["histogram"]["counts"]) == 4
    assert kinds.tally("number", config("number"), [])["summary"] is None


def test_a_drawing_tally_carries_every_drawing_for_the_projector_gallery():
    strokes = [{"points": [[0.1, 0.1], [0.5, 0.5]], "color": "#000000", "width": 3.0}]
    tally = kinds.tally("drawing", config("drawing"), [{"strokes": strokes}, {"strokes": strokes[:0]}])
    assert tally == {"answered": 2, "drawings": [{"strokes": strokes}, {"strokes": []}]}


def test_whole_numbers_over_a_short_range_get_one_bar_each():
    numbers = kinds.tally("number", config("number"), [{"value": v} for v in (6, 6, 8, 5)])
    assert numbers["histogram"] == {
        "edges": [4.5, 5.5, 6.5, 7.5, 8.5],
        "counts": [1, 2, 0, 1],
        "integers": True,
    }
    spread = kinds.tally("number", config("number"), [{"value": v} for v in (0, 50, 100)])
    assert len(spread["histogram"]["counts"]) == 10 and "integers" not in spread["histogram"]
