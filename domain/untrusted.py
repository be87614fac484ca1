"""What a client sends, read and checked one way whichever transport it came by.

Every entry point reads JSON with `loads` (HTTP bodies through the API's parser, WebSocket frames,
browser-metric reports, Firebase inbox entries that arrive as text), and every value that is
stored goes through the checks below, from `sessions.kinds` (answers, question settings) and the
services (titles, prompts, names, tokens, e-mail):

- JSON nested deeper than MAX_DEPTH is refused before the parser recurses into it (Python's parser
  recurses once per level and fails with RecursionError near a thousand, and everything after it
  that walks the value recurses too). Firebase itself stops at 32 levels.
- Numbers are finite and inside the float range: `NaN`, `Infinity`, `1e400` and integers with
  hundreds of digits are refused (PostgreSQL would give a stored 1e308 back as a 309-digit
  integer, and arithmetic on such values overflows).
- Text is valid Unicode without NUL: PostgreSQL refuses U+0000 in text and jsonb, and a lone
  surrogate (`"\\ud800"` in JSON) cannot be encoded as UTF-8 at all.
"""

from __future__ import annotations

import json
import math
import re
import sys
from typing import Annotated, Any

from pydantic import AfterValidator

from domain.errors import DomainError

MAX_DEPTH = 32
# Ids are 64-bit in the database; a larger one can name nothing, and SQLite refuses to compare it.
MAX_ID = 2**63 - 1

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_INNERMOST = re.compile(r"\[\]|\{\}")


class UnreadableJson(ValueError):
    """The body or message is not JSON we read; `message` says why, for the client, and `reason`
    is one word for it: malformed, too_deep or not_finite."""

    def __init__(self, message: str, reason: str = "malformed"):
        super().__init__(message)
        self.message = message
        self.reason = reason


def loads(raw: bytes | bytearray | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parses JSON from a client, or raises UnreadableJson."""
    if isinstance(raw, bytes | bytearray):
        try:
            raw = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UnreadableJson("The body is not UTF-8.") from exc
    _check_depth(raw, max_depth)
    try:
        return json.loads(
            raw, parse_constant=_no_constant, parse_float=_finite_float, parse_int=_float_range_int
        )
    except UnreadableJson:
        raise
    except (ValueError, RecursionError) as exc:
        raise UnreadableJson("The body is not valid JSON.") from exc


def _check_depth(text: str, max_depth: int) -> None:
    """Refuses nesting deeper than max_depth without recursing: strings are cut out, then each
    pass deletes the innermost empty pairs of what is left, one level a pass."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    for _level in range(max_depth):
        if not brackets:
            return
        brackets, removed = _INNERMOST.subn("", brackets)
        if not removed:
            # Unbalanced: the parser will say so, unless what is left could nest too deep.
            too_deep = len(brackets) > max_depth
            break
    else:
        too_deep = bool(brackets)  # a level left after max_depth of them
    if too_deep:
        raise UnreadableJson(f"The JSON is nested deeper than {max_depth} levels.", "too_deep")


def _no_constant(name: str):
    raise UnreadableJson(f"{name} is not a number JSON allows.", "not_finite")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise UnreadableJson("A number is outside the range of a double.", "not_finite")
    return value


def _float_range_int(literal: str) -> int:
    try:
        value = int(literal)
    except ValueError as exc:  # more digits than Python converts (sys.int_info.default_max_str_digits)
        raise UnreadableJson("A number is outside the range of a double.", "not_finite") from exc
    if not is_finite_number(value):
        raise UnreadableJson("A number is outside the range of a double.", "not_finite")
    return value


# --- numbers -------------------------------------------------------------------------------------


def is_finite_number(value: Any) -> bool:
    """A JSON number (never a bool) that is finite and fits a double."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -sys.float_info.max <= value <= sys.float_info.max
    return isinstance(value, float) and math.isfinite(value)


def is_id(value: Any) -> bool:
    """A positive integer that can be a database id."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID


# --- text ----------------------------------------------------------------------------------------

TEXT_PROBLEM = "must be valid Unicode without NUL characters or unpaired surrogates"


def is_clean_text(value: str) -> bool:
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def clean_text(value: str, *, field: str, code: str = "invalid") -> str:
    """`value` unchanged, or a DomainError naming the field."""
    if not is_clean_text(value):
        raise DomainError(code, f"{field} {TEXT_PROBLEM}", field=field)
    return value


def _text_for_pydantic(value: str) -> str:
    if not is_clean_text(value):
        raise ValueError(TEXT_PROBLEM)
    return value


# A str field of a pydantic model or an API schema that PostgreSQL can store and UTF-8 can carry.
Text = Annotated[str, AfterValidator(_text_for_pydantic)]


def printable(value: Any, limit: int = 100) -> str:
    """Some client text made fit to echo back in an error (a field name, say): NUL, surrogates and
    other control characters become U+FFFD, and it is cut at `limit` characters."""
    return "".join(char if char.isprintable() else "\ufffd" for char in str(value)[:limit])
