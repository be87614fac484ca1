"""The one reader of client JSON and the text checks every stored string passes."""

import json

import pytest

from domain import untrusted


def nested(depth: int, inner: str = "1") -> str:
    text = inner
    for level in range(depth):
        text = f'{{"k": {text}}}' if level % 2 else f"[{text}]"
    return text


def test_json_nested_to_the_limit_is_read_and_one_level_more_is_not():
    assert untrusted.loads(nested(untrusted.MAX_DEPTH)) == json.loads(nested(untrusted.MAX_DEPTH))
    with pytest.raises(untrusted.UnreadableJson) as refused:
        untrusted.loads(nested(untrusted.MAX_DEPTH + 1))
    assert refused.value.reason == "too_deep"


def test_brackets_inside_strings_do_not_count_as_nesting():
    text = json.dumps({"text": "[" * 1000 + '\\"{' * 100, "list": [["a]"], "]]]"]})
    assert untrusted.loads(text)["list"] == [["a]"], "]]]"]


@pytest.mark.parametrize(
    "text",
    ["[" * 100_000, "]" * 100_000 + "[" * 100_000, '{"a": ' + "[" * 40 + "]" * 39, "[" * 40 + "]" * 40],
)
def test_deep_or_unbalanced_brackets_are_refused_without_recursing(text):
    with pytest.raises(untrusted.UnreadableJson):
        untrusted.loads(text)


@pytest.mark.parametrize(
    "text", ["NaN", "[Infinity]", '{"v": -Infinity}', "1e309", "-1e400", "1" + "0" * 309, "9" * 5000]
)
def test_numbers_a_double_cannot_hold_are_refused(text):
    with pytest.raises(untrusted.UnreadableJson) as refused:
        untrusted.loads(text)
    assert refused.value.reason == "not_finite"


def test_the_largest_doubles_and_integers_that_fit_are_read():
    assert untrusted.loads("[1.7976931348623157e308, -1e308, 5e-324]") == [
        1.7976931348623157e308,
        -1e308,
        5e-324,
    ]
    assert untrusted.loads("1" + "0" * 308) == 10**308


@pytest.mark.parametrize("raw", [b"\xff\xfe", b'{"a": "\xc3"}', "{", "", "[1,]"])
def test_what_is_not_json_is_unreadable_and_malformed(raw):
    with pytest.raises(untrusted.UnreadableJson) as refused:
        untrusted.loads(raw)
    assert refused.value.reason == "malformed"


@pytest.mark.parametrize(
    ("text", "clean"), [("ok", True), ("a\x00b", False), ("a\ud800", False), ("\U0001f600", True)]
)
def test_text_is_clean_when_it_is_nul_free_valid_unicode(text, clean):
    assert untrusted.is_clean_text(text) is clean


def test_client_text_echoed_in_an_error_is_printable_and_short():
    assert untrusted.printable("a\x00b\ud800c\n" + "x" * 200, 10) == "a\ufffdb\ufffdc\ufffdxxxx"
